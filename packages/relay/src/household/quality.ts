import type { MeterStore } from './meter-store.ts';

/** One part of the quality score, with the plain-language reason when it is low. */
export interface QualityPart {
  value: number | null;
  /** 0..1, how this part counts towards the score. */
  factor: number;
  low: boolean;
  reason: string | null;
}

export interface QualityReport {
  /** 0..1: success rate × latency factor × uptime, the shape gateways rank relays by. */
  score: number | null;
  successRate: QualityPart & { attempts: number };
  connectLatencyMs: QualityPart;
  uptime: QualityPart & { windowDays: number };
}

const WINDOW = 200;
const FIRST_ONLINE_KEY = 'first_online_ms';
const UPTIME_WINDOW_MS = 7 * 86_400_000;
/** Gateways divide by (1 + latency / 200 ms): the same curve here, so the score means the same there. */
const LATENCY_SCALE_MS = 200;
export const QUALITY_THRESHOLDS = { successRate: 0.95, connectLatencyMs: 400, uptime: 0.9 } as const;

/** Outcomes a household's connection is answerable for (a refused port or a bad hostname are not). */
export const COUNTED_FAILURES = new Set([
  'MEADOW_ERR_TARGET_TIMEOUT',
  'MEADOW_ERR_TARGET_UNREACHABLE',
  'MEADOW_ERR_INTERNAL',
]);

/**
 * The relay's own view of the quality gateways see: success rate and median connect latency over
 * the last 200 target connections, and uptime over the last 7 days (persisted, so restarts count
 * as the downtime they are).
 */
export class QualityTracker {
  private readonly outcomes: Array<{ ok: boolean; latencyMs: number | null }> = [];
  private readonly store: MeterStore;
  private readonly now: () => number;

  private readonly firstOnline: number;

  constructor(store: MeterStore, now: () => number = Date.now) {
    this.store = store;
    this.now = now;
    const first = Number(store.getState(FIRST_ONLINE_KEY));
    this.firstOnline = first > 0 ? first : now();
    if (!(first > 0)) store.setState(FIRST_ONLINE_KEY, String(this.firstOnline));
  }

  /** Records a target connection: its latency when it succeeded, or a counted failure's code. */
  record(outcome: { ok: true; latencyMs: number } | { ok: false; code: string }): void {
    if (!outcome.ok && !COUNTED_FAILURES.has(outcome.code)) return;
    this.outcomes.push(outcome.ok ? { ok: true, latencyMs: outcome.latencyMs } : { ok: false, latencyMs: null });
    if (this.outcomes.length > WINDOW) this.outcomes.shift();
  }

  report(): QualityReport {
    const attempts = this.outcomes.length;
    const oks = this.outcomes.filter((o) => o.ok);
    const rate = attempts === 0 ? null : oks.length / attempts;
    const latencies = oks.map((o) => o.latencyMs as number).sort((a, b) => a - b);
    const median = latencies.length === 0 ? null : (latencies[Math.floor(latencies.length / 2)] as number);
    const now = this.now();
    // Buckets are 15 minutes: the one holding the window's start counts whole, hence the cap at 1.
    const seconds = this.store.onlineSeconds(now - UPTIME_WINDOW_MS, now + 1);
    const windowMs = Math.min(UPTIME_WINDOW_MS, now - this.firstOnline);
    const uptime = windowMs < 60_000 ? null : Math.min(1, (seconds * 1000) / windowMs);
    const successPart = {
      value: rate,
      factor: rate ?? 1,
      low: rate != null && rate < QUALITY_THRESHOLDS.successRate,
      reason:
        rate != null && rate < QUALITY_THRESHOLDS.successRate
          ? `${percent(1 - rate)} of the last ${attempts} connections to websites timed out or could not be made: check that your internet connection is stable and not saturated`
          : null,
      attempts,
    };
    const latencyPart = {
      value: median,
      factor: median == null ? 1 : 1 / (1 + median / LATENCY_SCALE_MS),
      low: median != null && median > QUALITY_THRESHOLDS.connectLatencyMs,
      reason:
        median != null && median > QUALITY_THRESHOLDS.connectLatencyMs
          ? `connections to websites take ${Math.round(median)} ms (median): a busy uplink or Wi-Fi far from the router slows them; a rate limit leaves room for your own traffic`
          : null,
    };
    const uptimePart = {
      value: uptime,
      factor: uptime ?? 1,
      low: uptime != null && uptime < QUALITY_THRESHOLDS.uptime,
      reason:
        uptime != null && uptime < QUALITY_THRESHOLDS.uptime
          ? `online ${percent(uptime)} of the last ${duration(windowMs)}: relays that stay on (a schedule instead of switching off) get more traffic`
          : null,
      windowDays: Number((windowMs / 86_400_000).toFixed(2)),
    };
    const known = rate != null || median != null || uptime != null;
    return {
      score: known ? Number((successPart.factor * latencyPart.factor * uptimePart.factor).toFixed(4)) : null,
      successRate: successPart,
      connectLatencyMs: latencyPart,
      uptime: uptimePart,
    };
  }
}

function duration(ms: number): string {
  if (ms >= 2 * 86_400_000) return `${Math.round(ms / 86_400_000)} days`;
  if (ms >= 3_600_000) return `${Math.round(ms / 3_600_000)} hours`;
  return `${Math.max(1, Math.round(ms / 60_000))} minutes`;
}

function percent(x: number): string {
  return `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;
}
