import type { HouseholdInit } from '../household/controls.ts';
import { WEEKDAYS, type Weekday } from '../household/periods.ts';

/** What the dashboard may change: the household's caps, rate limits and schedule (config keys). */
export interface HouseholdSettings {
  dataCap: { bytes: number; period: 'day' | 'week' | 'month'; start: string };
  rateLimit: { toTargetBytesPerSecond: number; fromTargetBytesPerSecond: number };
  schedule: { timezone: string; windows: Array<{ days: Weekday[]; from: string; to: string }> };
}

export type SaveResult = { ok: true; household: HouseholdInit } | { ok: false; errors: Record<string, string> };

/**
 * Where settings live (the relay's config file, for `meadow relay start`). `save` validates with
 * the same rules as at startup and writes only when everything is valid; errors are keyed by
 * config key, so the page shows each next to its field.
 */
export interface SettingsStore {
  read(): Promise<HouseholdSettings>;
  save(settings: HouseholdSettings): Promise<SaveResult>;
}

export const SETTINGS_FIELDS = [
  'dataCap.bytes',
  'dataCap.period',
  'dataCap.start',
  'rateLimit.toTargetBytesPerSecond',
  'rateLimit.fromTargetBytesPerSecond',
  'schedule.timezone',
  'schedule.windows',
] as const;
export type SettingsField = (typeof SETTINGS_FIELDS)[number];
export type FieldValues = Record<SettingsField, string>;

const GB = 1e9;
/** Households buy bandwidth in Mbit/s; the config holds bytes per second. */
const MBIT_BYTES = 125_000;

/** The form's text for each field (GB, Mbit/s, one schedule window per line). */
export function settingsToFields(s: HouseholdSettings): FieldValues {
  return {
    'dataCap.bytes': trimNumber(s.dataCap.bytes / GB),
    'dataCap.period': s.dataCap.period,
    'dataCap.start': s.dataCap.start,
    'rateLimit.toTargetBytesPerSecond': trimNumber(s.rateLimit.toTargetBytesPerSecond / MBIT_BYTES),
    'rateLimit.fromTargetBytesPerSecond': trimNumber(s.rateLimit.fromTargetBytesPerSecond / MBIT_BYTES),
    'schedule.timezone': s.schedule.timezone,
    'schedule.windows': s.schedule.windows.map((w) => `${formatDays(w.days)} ${w.from}-${w.to}`).join('\n'),
  };
}

/** Parses the submitted form; unit and syntax problems come back per field, nothing is applied. */
export function fieldsToSettings(
  form: URLSearchParams,
):
  | { ok: true; settings: HouseholdSettings; values: FieldValues }
  | { ok: false; errors: Record<string, string>; values: FieldValues } {
  const values = Object.fromEntries(SETTINGS_FIELDS.map((f) => [f, (form.get(f) ?? '').trim()])) as FieldValues;
  const errors: Record<string, string> = {};
  const amount = (field: SettingsField, unit: number, what: string): number => {
    const text = values[field].replace(',', '.');
    if (text === '') return 0;
    const n = Number(text);
    if (!/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(n)) {
      errors[field] = `must be a number of ${what} (0 for none), got "${values[field]}"`;
      return 0;
    }
    return Math.round(n * unit);
  };
  const period = values['dataCap.period'];
  if (period !== 'day' && period !== 'week' && period !== 'month')
    errors['dataCap.period'] = 'must be day, week or month';
  const windows: HouseholdSettings['schedule']['windows'] = [];
  values['schedule.windows'].split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const parsed = parseWindow(line.trim());
    if (typeof parsed === 'string') errors['schedule.windows'] ??= `line ${i + 1}: ${parsed}`;
    else windows.push(parsed);
  });
  const settings: HouseholdSettings = {
    dataCap: {
      bytes: amount('dataCap.bytes', GB, 'GB'),
      period: period as HouseholdSettings['dataCap']['period'],
      start: values['dataCap.start'],
    },
    rateLimit: {
      toTargetBytesPerSecond: amount('rateLimit.toTargetBytesPerSecond', MBIT_BYTES, 'Mbit/s'),
      fromTargetBytesPerSecond: amount('rateLimit.fromTargetBytesPerSecond', MBIT_BYTES, 'Mbit/s'),
    },
    schedule: { timezone: values['schedule.timezone'], windows },
  };
  return Object.keys(errors).length > 0 ? { ok: false, errors, values } : { ok: true, settings, values };
}

/** "mon-fri 18:00-23:30", "sat,sun 09:00-22:00", "daily 00:00-07:00". */
function parseWindow(line: string): HouseholdSettings['schedule']['windows'][number] | string {
  const m = /^(.+?)\s+(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})$/.exec(line.toLowerCase());
  if (m == null) return `"${line}" is not like "mon-fri 18:00-23:30"`;
  const days = new Set<Weekday>();
  for (const part of (m[1] as string).split(/\s*,\s*/)) {
    if (part === 'daily' || part === 'every day') {
      for (const d of WEEKDAYS) days.add(d);
      continue;
    }
    const [from, to] = part.split(/\s*-\s*/);
    const a = WEEKDAYS.indexOf(from as Weekday);
    const b = to == null ? a : WEEKDAYS.indexOf(to as Weekday);
    if (a < 0 || b < 0) return `"${part}" is not a day or range of days (mon, tue, wed, thu, fri, sat, sun)`;
    for (let d = a; ; d = (d + 1) % 7) {
      days.add(WEEKDAYS[d] as Weekday);
      if (d === b) break;
    }
  }
  const pad = (t: string): string => t.padStart(5, '0');
  return { days: WEEKDAYS.filter((d) => days.has(d)), from: pad(m[2] as string), to: pad(m[3] as string) };
}

function formatDays(days: Weekday[]): string {
  if (days.length === 7) return 'daily';
  const idx = days.map((d) => WEEKDAYS.indexOf(d)).sort((a, b) => a - b);
  const runs: string[] = [];
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && (idx[j + 1] as number) === (idx[j] as number) + 1) j++;
    const first = WEEKDAYS[idx[i] as number];
    const last = WEEKDAYS[idx[j] as number];
    runs.push(
      j - i >= 2
        ? `${first}-${last}`
        : idx
            .slice(i, j + 1)
            .map((d) => WEEKDAYS[d])
            .join(','),
    );
    i = j + 1;
  }
  return runs.join(',');
}

function trimNumber(n: number): string {
  return String(Number(n.toFixed(3)));
}
