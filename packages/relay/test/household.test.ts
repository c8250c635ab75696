import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HouseholdControls } from '../src/household/controls.ts';
import { MeterStore } from '../src/household/meter-store.ts';
import { parsePeriodStart, periodAt, withinSchedule } from '../src/household/periods.ts';
import { TokenBucket } from '../src/household/token-bucket.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-household-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const iso = (ms: number): string => new Date(ms).toISOString();

describe('accounting periods', () => {
  it('finds the monthly period in the household’s time zone', () => {
    const start = parsePeriodStart('month', '1 00:00');
    const p = periodAt(Date.parse('2026-03-15T12:00:00Z'), start, 'Europe/Berlin');
    expect(iso(p.start)).toBe('2026-02-28T23:00:00.000Z');
    expect(iso(p.end)).toBe('2026-03-31T22:00:00.000Z'); // DST began on 29 March
  });

  it('finds weekly and daily periods, including just before the start time', () => {
    const week = parsePeriodStart('week', 'mon 06:00');
    const p = periodAt(Date.parse('2026-11-23T05:59:00Z'), week, 'UTC'); // a Monday, one minute early
    expect(iso(p.start)).toBe('2026-11-16T06:00:00.000Z');
    expect(iso(p.end)).toBe('2026-11-23T06:00:00.000Z');
    const day = periodAt(Date.parse('2026-11-25T01:00:00Z'), parsePeriodStart('day', '04:30'), 'Asia/Kolkata');
    expect(iso(day.start)).toBe('2026-11-24T23:00:00.000Z');
  });

  it.each([
    ['day', 'mon 00:00', /HH:MM/],
    ['week', 'someday 00:00', /weekday/],
    ['month', '31 00:00', /day 1-28/],
    ['month', '1 24:00', /time of day/],
  ] as const)('rejects a %s period starting "%s"', (kind, text, message) => {
    expect(() => parsePeriodStart(kind, text)).toThrow(message);
  });
});

describe('sharing schedule', () => {
  const evenings = [{ days: [0, 1, 2, 3, 4], fromMinute: 18 * 60, toMinute: 2 * 60 }];
  it('handles windows that cross midnight', () => {
    expect(withinSchedule(Date.parse('2026-11-23T19:00:00Z'), evenings, 'UTC')).toBe(true); // Monday evening
    expect(withinSchedule(Date.parse('2026-11-24T01:00:00Z'), evenings, 'UTC')).toBe(true); // night after Monday
    expect(withinSchedule(Date.parse('2026-11-23T01:00:00Z'), evenings, 'UTC')).toBe(false); // night after Sunday
    expect(withinSchedule(Date.parse('2026-11-23T12:00:00Z'), evenings, 'UTC')).toBe(false);
    expect(withinSchedule(Date.now(), [], 'UTC')).toBe(true);
  });
});

describe('TokenBucket', () => {
  it('lets a burst through at once and makes later takers wait their turn', async () => {
    let now = 0;
    const bucket = new TokenBucket(1000, 500, () => now);
    await bucket.take(500);
    let done = false;
    const waiting = bucket.take(250).then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 5));
    expect(done).toBe(false);
    now = 300; // 300 bytes refilled
    await waiting;
    expect(done).toBe(true);
    expect(bucket.waits).toBe(1);
  });
});

describe('HouseholdControls', () => {
  it('caps the period at the exact byte, hibernates until the next period plus jitter, and remembers across reopen', () => {
    const path = join(dir, 'cap.db');
    let now = Date.parse('2026-11-25T10:00:00Z');
    const init = {
      timeZone: 'UTC',
      schedule: [],
      cap: { bytes: 1000, start: parsePeriodStart('day', '00:00'), wakeJitterMs: 60_000 },
      now: () => now,
      random: () => 0.5,
    };
    const store = new MeterStore(path);
    const controls = new HouseholdControls(init, store);
    const states: string[] = [];
    controls.on('state', (s) => states.push(s.state));
    expect(controls.consume('to_target', 600)).toBe(600);
    expect(controls.consume('from_target', 600)).toBe(400);
    expect(controls.remainingBytes()).toBe(0);
    expect(controls.state).toMatchObject({ state: 'hibernating', until: Date.parse('2026-11-26T00:00:30Z') });
    expect(states).toEqual(['hibernating']);
    expect(controls.consume('to_target', 1)).toBe(0);
    store.close();

    const reopened = new HouseholdControls(init, new MeterStore(path));
    expect(reopened.state.state).toBe('hibernating');
    expect(reopened.usage().period).toEqual({ bytesToTarget: 600, bytesFromTarget: 400, tunnels: 0 });
    now = Date.parse('2026-11-26T00:00:29Z');
    expect(reopened.evaluate().state).toBe('hibernating');
    now = Date.parse('2026-11-26T00:00:31Z');
    expect(reopened.evaluate().state).toBe('serving');
    expect(reopened.remainingBytes()).toBe(1000);
  });

  it('applies new settings without a restart: a raised cap ends the hibernation it caused, a schedule takes effect', () => {
    const path = join(dir, 'reconfigure.db');
    const now = Date.parse('2026-11-25T10:00:00Z'); // a Wednesday
    const capped = (bytes: number) => ({
      timeZone: 'UTC',
      schedule: [],
      cap: { bytes, start: parsePeriodStart('day', '00:00'), wakeJitterMs: 0 },
      now: () => now,
    });
    const controls = new HouseholdControls(capped(1000), new MeterStore(path));
    expect(controls.consume('from_target', 1500)).toBe(1000);
    expect(controls.state.state).toBe('hibernating');
    expect(controls.reconfigure(capped(800)).state).toBe('hibernating'); // still over the lower cap
    const raised = controls.reconfigure(capped(5000));
    expect(raised.state).toBe('serving');
    expect(controls.remainingBytes()).toBe(4000);
    expect(
      controls.reconfigure({ timeZone: 'UTC', schedule: [{ days: [0], fromMinute: 0, toMinute: 60 }] }).state,
    ).toBe('outside-schedule');
    expect(controls.remainingBytes()).toBeNull();
  });

  it('applies a new rate limit to tunnels already open, and keeps counting waits', async () => {
    const controls = new HouseholdControls({ timeZone: 'UTC', schedule: [] }, new MeterStore(join(dir, 'rate.db')));
    const meter = controls.meter('from_target');
    const chunks: Buffer[] = [];
    const forward = (c: Buffer): void => void chunks.push(c);
    expect(meter.admit(Buffer.alloc(100_000), forward, () => true)).toBeUndefined(); // unlimited: passes at once
    expect(chunks.length).toBe(1);
    controls.reconfigure({
      timeZone: 'UTC',
      schedule: [],
      rate: { toTargetBytesPerSecond: 0, fromTargetBytesPerSecond: 100_000, burstBytes: 16_384 },
    });
    const started = performance.now();
    const held = meter.admit(Buffer.alloc(48_000), forward, () => true);
    expect(held).toBeInstanceOf(Promise);
    await held;
    expect(chunks.reduce((n, c) => n + c.byteLength, 0)).toBe(148_000);
    expect(meter.bytes).toBe(148_000);
    // 48 kB beyond a 16 kB burst at 100 kB/s cannot take much less than 0.3 s.
    expect(performance.now() - started).toBeGreaterThan(250);
    expect(controls.rateLimitWaits().waits).toBeGreaterThan(0);
  });

  it('stops counting a held chunk once its tunnel is torn down', async () => {
    const controls = new HouseholdControls(
      {
        timeZone: 'UTC',
        schedule: [],
        rate: { toTargetBytesPerSecond: 0, fromTargetBytesPerSecond: 100_000, burstBytes: 16_384 },
      },
      new MeterStore(join(dir, 'teardown.db')),
    );
    const meter = controls.meter('from_target');
    let open = true;
    const forwarded: Buffer[] = [];
    const forward = (c: Buffer): void => {
      forwarded.push(c);
      open = false; // the bridge is torn down right after the first piece went out
    };
    await meter.admit(Buffer.alloc(64_000), forward, () => open);
    expect(forwarded.map((c) => c.byteLength)).toEqual([16_384]);
    expect(meter.bytes).toBe(16_384);
    expect(controls.usage().today.bytesFromTarget).toBe(16_384);
  });

  it('keeps a pause across restarts, and pause wins over everything', () => {
    const path = join(dir, 'pause.db');
    const init = { timeZone: 'UTC', schedule: [{ days: [0], fromMinute: 0, toMinute: 1 }] };
    const controls = new HouseholdControls(init, new MeterStore(path));
    expect(controls.state.state).toBe('outside-schedule');
    controls.pause();
    expect(controls.state.state).toBe('paused');
    expect(controls.refusal()?.code).toBe('MEADOW_ERR_RELAY_NOT_SERVING');
    const again = new HouseholdControls(init, new MeterStore(path));
    expect(again.state.state).toBe('paused');
    again.resume();
    expect(again.state.state).toBe('outside-schedule');
  });
});
