import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeterStore } from '../src/household/meter-store.ts';
import { QualityTracker } from '../src/household/quality.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-quality-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const HOUR = 3_600_000;

describe('QualityTracker', () => {
  it('has no score before anything was measured', () => {
    const q = new QualityTracker(new MeterStore(':memory:'));
    expect(q.report()).toMatchObject({ score: null, successRate: { value: null, attempts: 0 } });
  });

  it('counts failures the household answers for, not refused ports or bad hostnames, and explains a low rate', () => {
    const q = new QualityTracker(new MeterStore(':memory:'));
    for (let i = 0; i < 8; i++) q.record({ ok: true, latencyMs: 40 });
    q.record({ ok: false, code: 'MEADOW_ERR_TARGET_TIMEOUT' });
    q.record({ ok: false, code: 'MEADOW_ERR_TARGET_UNREACHABLE' });
    q.record({ ok: false, code: 'MEADOW_ERR_TARGET_FORBIDDEN' });
    q.record({ ok: false, code: 'MEADOW_ERR_DNS_FAILED' });
    const r = q.report();
    expect(r.successRate).toMatchObject({ value: 0.8, attempts: 10, low: true });
    expect(r.successRate.reason).toContain('20% of the last 10 connections');
    expect(r.connectLatencyMs).toMatchObject({ value: 40, low: false, reason: null });
  });

  it('scores latency on the gateways’ curve and says why a slow median is low', () => {
    const q = new QualityTracker(new MeterStore(':memory:'));
    for (const ms of [300, 500, 700]) q.record({ ok: true, latencyMs: ms });
    const r = q.report();
    expect(r.connectLatencyMs.value).toBe(500);
    expect(r.connectLatencyMs.factor).toBeCloseTo(1 / (1 + 500 / 200), 6);
    expect(r.connectLatencyMs.reason).toContain('500 ms');
    expect(r.score).toBeCloseTo(r.connectLatencyMs.factor, 4);
  });

  it('measures uptime from the persisted online time since the first start, across restarts', () => {
    const path = join(dir, 'uptime.db');
    let now = Date.parse('2026-11-20T00:00:00Z');
    const store = new MeterStore(path);
    new QualityTracker(store, () => now); // the first start records when the relay was first online
    // Online 10 hours, then off 10 hours, then online again for 10 hours.
    for (let t = 0; t < 10 * 3600; t += 60) store.addOnline(now + t * 1000, 60);
    now += 20 * HOUR;
    for (let t = 0; t < 10 * 3600; t += 60) store.addOnline(now + t * 1000, 60);
    now += 10 * HOUR;
    store.close();
    const reopened = new QualityTracker(new MeterStore(path), () => now);
    const r = reopened.report();
    expect(r.uptime.value).toBeCloseTo(20 / 30, 2);
    expect(r.uptime.low).toBe(true);
    expect(r.uptime.reason).toContain('of the last 30 hours');
  });
});
