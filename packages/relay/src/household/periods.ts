/**
 * Accounting periods and sharing schedules in the household's own time zone.
 * Wall-clock arithmetic goes through Intl, so DST changes are handled by the zone database.
 */
export type PeriodKind = 'day' | 'week' | 'month';
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

interface WallClock {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  weekday: number; // 0 = Monday
}

const formatters = new Map<string, Intl.DateTimeFormat>();

export function wallClock(ms: number, timeZone: string): WallClock {
  let format = formatters.get(timeZone);
  if (format == null) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      weekday: 'short',
    });
    formatters.set(timeZone, format);
  }
  const parts: Record<string, string> = {};
  for (const part of format.formatToParts(new Date(ms))) parts[part.type] = part.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    weekday: WEEKDAYS.indexOf((parts.weekday ?? 'Mon').toLowerCase().slice(0, 3) as Weekday),
  };
}

/** The instant at which the zone's wall clock shows this local date and time. */
export function fromWallClock(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  timeZone: string,
): number {
  const target = Date.UTC(year, month - 1, day, hour, minute);
  let guess = target;
  for (let i = 0; i < 3; i++) {
    const w = wallClock(guess, timeZone);
    const shown = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute);
    if (shown === target) break;
    guess += target - shown;
  }
  return guess;
}

export function isValidTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** "HH:MM" → minutes after midnight. */
export function parseTimeOfDay(text: string): number {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text);
  if (m == null) throw new Error(`"${text}" is not a time of day like 07:30`);
  return Number(m[1]) * 60 + Number(m[2]);
}

export interface PeriodStart {
  kind: PeriodKind;
  /** month: day of month 1-28; week: weekday 0 (Monday) - 6; day: unused. */
  day: number;
  minuteOfDay: number;
}

/** Parses "HH:MM" (day), "mon HH:MM" (week) or "1 HH:MM" (month, day 1-28). */
export function parsePeriodStart(kind: PeriodKind, text: string): PeriodStart {
  const parts = text.trim().split(/\s+/);
  if (kind === 'day') {
    if (parts.length !== 1) throw new Error(`a daily period starts at "HH:MM", got "${text}"`);
    return { kind, day: 0, minuteOfDay: parseTimeOfDay(parts[0] as string) };
  }
  if (parts.length !== 2)
    throw new Error(`a ${kind}ly period starts at "${kind === 'week' ? 'mon' : '1'} HH:MM", got "${text}"`);
  const minuteOfDay = parseTimeOfDay(parts[1] as string);
  if (kind === 'week') {
    const day = WEEKDAYS.indexOf((parts[0] as string).toLowerCase() as Weekday);
    if (day < 0) throw new Error(`"${parts[0]}" is not a weekday (mon … sun)`);
    return { kind, day, minuteOfDay };
  }
  const day = Number(parts[0]);
  if (!Number.isInteger(day) || day < 1 || day > 28)
    throw new Error(`a monthly period starts on day 1-28, got "${parts[0]}"`);
  return { kind, day, minuteOfDay };
}

/** The accounting period containing `now`: [start, end). */
export function periodAt(now: number, start: PeriodStart, timeZone: string): { start: number; end: number } {
  const w = wallClock(now, timeZone);
  const h = Math.floor(start.minuteOfDay / 60);
  const m = start.minuteOfDay % 60;
  const at = (y: number, mo: number, d: number): number => {
    const date = new Date(Date.UTC(y, mo - 1, d));
    return fromWallClock(date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), h, m, timeZone);
  };
  let begin: number;
  let next: (b: WallClock) => number;
  if (start.kind === 'day') {
    begin = at(w.year, w.month, w.day);
    if (begin > now) begin = at(w.year, w.month, w.day - 1);
    next = (b) => at(b.year, b.month, b.day + 1);
  } else if (start.kind === 'week') {
    begin = at(w.year, w.month, w.day - ((w.weekday - start.day + 7) % 7));
    if (begin > now) begin = at(w.year, w.month, w.day - ((w.weekday - start.day + 7) % 7) - 7);
    next = (b) => at(b.year, b.month, b.day + 7);
  } else {
    begin = at(w.year, w.month, start.day);
    if (begin > now) begin = at(w.year, w.month - 1, start.day);
    next = (b) => at(b.year, b.month + 1, start.day);
  }
  return { start: begin, end: next(wallClock(begin, timeZone)) };
}

/** Local midnight of the day containing `now`. */
export function startOfDay(now: number, timeZone: string): number {
  const w = wallClock(now, timeZone);
  return fromWallClock(w.year, w.month, w.day, 0, 0, timeZone);
}

export interface ScheduleWindow {
  days: number[];
  fromMinute: number;
  toMinute: number;
}

/** True when `now` falls in one of the windows (an empty list means always). A window may cross midnight. */
export function withinSchedule(now: number, windows: ScheduleWindow[], timeZone: string): boolean {
  if (windows.length === 0) return true;
  const w = wallClock(now, timeZone);
  const minute = w.hour * 60 + w.minute;
  return windows.some((win) => {
    if (win.fromMinute <= win.toMinute)
      return win.days.includes(w.weekday) && minute >= win.fromMinute && minute < win.toMinute;
    // crosses midnight: the evening part belongs to its start day, the morning part to the day before
    if (minute >= win.fromMinute) return win.days.includes(w.weekday);
    return minute < win.toMinute && win.days.includes((w.weekday + 6) % 7);
  });
}
