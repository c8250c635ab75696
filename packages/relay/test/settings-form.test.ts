import { describe, expect, it } from 'vitest';
import { fieldsToSettings, type HouseholdSettings, settingsToFields } from '../src/dashboard/settings-form.ts';

const form = (fields: Record<string, string>) =>
  new URLSearchParams({
    'dataCap.bytes': '0',
    'dataCap.period': 'month',
    'dataCap.start': '1 00:00',
    'rateLimit.toTargetBytesPerSecond': '0',
    'rateLimit.fromTargetBytesPerSecond': '0',
    'schedule.timezone': 'UTC',
    'schedule.windows': '',
    ...fields,
  });

describe('dashboard settings form', () => {
  it('turns GB, Mbit/s and schedule lines into config values', () => {
    const parsed = fieldsToSettings(
      form({
        'dataCap.bytes': '2,5',
        'rateLimit.fromTargetBytesPerSecond': '40',
        'schedule.windows': 'mon-fri 18:00-23:30\r\nsat,sun 9:00-22:00\nfri-mon 01:00-02:00\n\ndaily 03:00-04:00',
      }),
    );
    expect(parsed.ok).toBe(true);
    const s = (parsed as { settings: HouseholdSettings }).settings;
    expect(s.dataCap.bytes).toBe(2_500_000_000);
    expect(s.rateLimit).toEqual({ toTargetBytesPerSecond: 0, fromTargetBytesPerSecond: 5_000_000 });
    expect(s.schedule.windows).toEqual([
      { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '18:00', to: '23:30' },
      { days: ['sat', 'sun'], from: '09:00', to: '22:00' },
      { days: ['mon', 'fri', 'sat', 'sun'], from: '01:00', to: '02:00' },
      { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from: '03:00', to: '04:00' },
    ]);
  });

  it('round-trips settings through the form text', () => {
    const settings: HouseholdSettings = {
      dataCap: { bytes: 750_000_000, period: 'week', start: 'mon 06:00' },
      rateLimit: { toTargetBytesPerSecond: 125_000, fromTargetBytesPerSecond: 1_250_000 },
      schedule: {
        timezone: 'Europe/Berlin',
        windows: [
          { days: ['mon', 'wed', 'fri'], from: '18:00', to: '23:00' },
          { days: ['sat', 'sun'], from: '08:00', to: '12:00' },
        ],
      },
    };
    const fields = settingsToFields(settings);
    expect(fields['dataCap.bytes']).toBe('0.75');
    expect(fields['rateLimit.fromTargetBytesPerSecond']).toBe('10');
    expect(fields['schedule.windows']).toBe('mon,wed,fri 18:00-23:00\nsat,sun 08:00-12:00');
    const back = fieldsToSettings(new URLSearchParams(fields));
    expect(back).toMatchObject({ ok: true, settings });
  });

  it.each([
    [{ 'dataCap.bytes': 'lots' }, 'dataCap.bytes', 'must be a number of GB'],
    [{ 'dataCap.bytes': '-1' }, 'dataCap.bytes', 'must be a number of GB'],
    [{ 'rateLimit.toTargetBytesPerSecond': '1e9' }, 'rateLimit.toTargetBytesPerSecond', 'Mbit/s'],
    [{ 'dataCap.period': 'year' }, 'dataCap.period', 'day, week or month'],
    [{ 'schedule.windows': 'mon-fri 18:00-23:00\nweekdays 1-2' }, 'schedule.windows', 'line 2'],
    [{ 'schedule.windows': 'funday 10:00-11:00' }, 'schedule.windows', 'not a day'],
  ])('rejects %o with an error on its field', (fields, field, message) => {
    const parsed = fieldsToSettings(form(fields));
    expect(parsed.ok).toBe(false);
    expect((parsed as { errors: Record<string, string> }).errors[field]).toContain(message);
    // What was typed comes back for the form to show again.
    expect(parsed.values[field as keyof typeof parsed.values]).toBe(Object.values(fields)[0]?.trim());
  });
});
