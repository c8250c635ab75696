import { EventEmitter } from 'node:events';
import type { RelayState } from '@meadow/discovery';
import { type ByteGate, MeadowError } from '@meadow/protocol';
import type { MeterStore, Usage } from './meter-store.ts';
import { type PeriodStart, periodAt, type ScheduleWindow, startOfDay, withinSchedule } from './periods.ts';
import { TokenBucket } from './token-bucket.ts';

export interface HouseholdInit {
  timeZone: string;
  rate?: { toTargetBytesPerSecond: number; fromTargetBytesPerSecond: number; burstBytes: number };
  cap?: { bytes: number; start: PeriodStart; wakeJitterMs: number };
  schedule: ScheduleWindow[];
  now?: () => number;
  random?: () => number;
}

export type Direction = 'to_target' | 'from_target';

export interface StateInfo {
  state: RelayState;
  /** Plain-language reason, for the status API and logs. */
  reason: string;
  /** When hibernating: the wake-up time (ms). */
  until?: number;
}

const PAUSED_KEY = 'paused';
const HIBERNATE_KEY = 'hibernate_until';
const MAX_PIECE_BYTES = 64 * 1024;

/**
 * What the household controls: rate limits per direction, a data cap per period with
 * hibernation and a randomised wake-up, a sharing schedule, and pause/resume. Keeps the live
 * meter (persisted through MeterStore) and emits 'state' whenever the relay's state changes.
 */
export class HouseholdControls extends EventEmitter<{ state: [StateInfo] }> {
  private settings: HouseholdInit;
  private readonly store: MeterStore;
  private buckets: Partial<Record<Direction, TokenBucket>> = {};
  private readonly now: () => number;
  private readonly random: () => number;
  private info: StateInfo = { state: 'serving', reason: 'taking tunnels from gateways' };
  private period: { start: number; end: number } | undefined;
  /** Waits counted by buckets that `reconfigure` replaced, so the metric stays a counter. */
  private readonly retiredWaits = { waits: 0, waitedMs: 0 };
  private periodUsed = 0;

  constructor(init: HouseholdInit, store: MeterStore) {
    super();
    this.settings = init;
    this.store = store;
    this.now = init.now ?? Date.now;
    this.random = init.random ?? Math.random;
    this.buildBuckets();
    this.evaluate();
  }

  /** The settings in force (changed by `reconfigure`). */
  get init(): HouseholdInit {
    return this.settings;
  }

  /**
   * Applies new caps, rate limits and schedule at once, without a restart: open tunnels take the
   * new rate from their next chunk; a raised or removed cap ends a hibernation it caused.
   */
  reconfigure(init: Omit<HouseholdInit, 'now' | 'random'>): StateInfo {
    const previousCap = this.settings.cap;
    this.settings = { ...init, now: this.now, random: this.random };
    for (const bucket of Object.values(this.buckets)) {
      this.retiredWaits.waits += bucket.waits;
      this.retiredWaits.waitedMs += bucket.waitedMs;
    }
    this.buildBuckets();
    this.period = undefined;
    this.rollPeriod();
    const capChanged = JSON.stringify(previousCap) !== JSON.stringify(init.cap);
    if (capChanged && (init.cap == null || this.periodUsed < init.cap.bytes))
      this.store.setState(HIBERNATE_KEY, undefined);
    return this.evaluate();
  }

  /** @internal The token bucket a direction is limited by now, if any. */
  bucket(direction: Direction): TokenBucket | undefined {
    return this.buckets[direction];
  }

  private buildBuckets(): void {
    const rate = this.settings.rate;
    this.buckets = {};
    if (rate != null && rate.toTargetBytesPerSecond > 0)
      this.buckets.to_target = new TokenBucket(rate.toTargetBytesPerSecond, rate.burstBytes);
    if (rate != null && rate.fromTargetBytesPerSecond > 0)
      this.buckets.from_target = new TokenBucket(rate.fromTargetBytesPerSecond, rate.burstBytes);
  }

  get state(): StateInfo {
    return { ...this.info };
  }

  get paused(): boolean {
    return this.store.getState(PAUSED_KEY) === 'true';
  }

  pause(): void {
    this.store.setState(PAUSED_KEY, 'true');
    this.evaluate();
  }

  resume(): void {
    this.store.setState(PAUSED_KEY, undefined);
    this.evaluate();
  }

  /** Bytes left in this accounting period, or null when there is no cap. */
  remainingBytes(): number | null {
    if (this.init.cap == null) return null;
    this.rollPeriod();
    return Math.max(0, this.init.cap.bytes - this.periodUsed);
  }

  usage(): { today: Usage; period: Usage | null; allTime: Usage; periodStart?: number; periodEnd?: number } {
    const now = this.now();
    const today = this.store.sum(startOfDay(now, this.init.timeZone), Number.MAX_SAFE_INTEGER);
    this.rollPeriod();
    const period = this.period == null ? null : this.store.sum(this.period.start, Number.MAX_SAFE_INTEGER);
    return { today, period, allTime: this.store.total(), periodStart: this.period?.start, periodEnd: this.period?.end };
  }

  rateLimitWaits(): { waits: number; waitedSeconds: number } {
    let waits = this.retiredWaits.waits;
    let waitedMs = this.retiredWaits.waitedMs;
    for (const bucket of Object.values(this.buckets)) {
      waits += bucket.waits;
      waitedMs += bucket.waitedMs;
    }
    return { waits, waitedSeconds: waitedMs / 1000 };
  }

  /** Recomputes the state (pause > hibernation > schedule > serving); emits 'state' on a change. */
  evaluate(): StateInfo {
    const now = this.now();
    const previous = this.info;
    this.rollPeriod();
    const hibernateUntil = Number(this.store.getState(HIBERNATE_KEY) ?? 0);
    if (hibernateUntil > 0 && now >= hibernateUntil) this.store.setState(HIBERNATE_KEY, undefined);
    if (this.paused) {
      this.info = { state: 'paused', reason: 'paused by the household' };
    } else if (hibernateUntil > now) {
      this.info = { state: 'hibernating', reason: 'data cap for this period reached', until: hibernateUntil };
    } else if (this.init.cap != null && this.periodUsed >= this.init.cap.bytes) {
      this.info = { state: 'hibernating', reason: 'data cap for this period reached', until: this.hibernate() };
    } else if (!withinSchedule(now, this.init.schedule, this.init.timeZone)) {
      this.info = { state: 'outside-schedule', reason: 'outside the sharing schedule' };
    } else {
      this.info = { state: 'serving', reason: 'taking tunnels from gateways' };
    }
    if (previous.state !== this.info.state) {
      if (this.info.state !== 'serving')
        for (const bucket of Object.values(this.buckets)) bucket.cancelAll(this.notServing());
      this.emit('state', this.state);
    }
    return this.state;
  }

  /** Why a new tunnel may not start now, or undefined if it may. */
  refusal(): MeadowError | undefined {
    return this.info.state === 'serving' ? undefined : this.notServing();
  }

  /** A gate (for `bridge`) that meters, rate-limits and caps one direction of one tunnel. */
  meter(direction: Direction): TunnelMeter {
    return new TunnelMeter(this, direction);
  }

  /** @internal Books bytes about to pass; returns how many may (fewer when the cap is reached). */
  consume(direction: Direction, bytes: number): number {
    if (this.info.state === 'hibernating') return 0;
    let allowed = bytes;
    if (this.init.cap != null) {
      this.rollPeriod();
      allowed = Math.max(0, Math.min(bytes, this.init.cap.bytes - this.periodUsed));
    }
    if (allowed > 0) {
      this.periodUsed += allowed;
      this.store.add(this.now(), direction === 'to_target' ? { bytesToTarget: allowed } : { bytesFromTarget: allowed });
    }
    if (this.init.cap != null && this.periodUsed >= this.init.cap.bytes) this.evaluate();
    return allowed;
  }

  countTunnel(): void {
    this.store.add(this.now(), { tunnels: 1 });
  }

  /** @internal */
  notServing(): MeadowError {
    const until = this.info.until == null ? '' : ` until ${new Date(this.info.until).toISOString()}`;
    return new MeadowError('MEADOW_ERR_RELAY_NOT_SERVING', `relay is ${this.info.state}${until}: ${this.info.reason}`, {
      hop: 'relay',
    });
  }

  private hibernate(): number {
    const cap = this.init.cap as NonNullable<HouseholdInit['cap']>;
    const end = (this.period as { end: number }).end;
    const until = end + Math.floor(this.random() * cap.wakeJitterMs);
    this.store.setState(HIBERNATE_KEY, String(until));
    return until;
  }

  private rollPeriod(): void {
    if (this.init.cap == null) return;
    const now = this.now();
    if (this.period != null && now >= this.period.start && now < this.period.end) return;
    this.period = periodAt(now, this.init.cap.start, this.init.timeZone);
    const used = this.store.sum(this.period.start, Number.MAX_SAFE_INTEGER);
    this.periodUsed = used.bytesToTarget + used.bytesFromTarget;
  }
}

/** Counts, rate-limits and caps one direction of one tunnel; the relay's only byte counter. */
export class TunnelMeter implements ByteGate {
  bytes = 0;
  private readonly controls: HouseholdControls;
  private readonly direction: Direction;

  constructor(controls: HouseholdControls, direction: Direction) {
    this.controls = controls;
    this.direction = direction;
  }

  admit(chunk: Buffer, forward: (part: Buffer) => void, open: () => boolean): Error | Promise<void> | undefined {
    // Looked up per chunk, so a rate changed on the dashboard applies to tunnels already open.
    const bucket = this.controls.bucket(this.direction);
    if (bucket == null) return this.pass(chunk, forward);
    return this.throttled(chunk, bucket, forward, open);
  }

  private async throttled(
    chunk: Buffer,
    bucket: TokenBucket,
    forward: (part: Buffer) => void,
    open: () => boolean,
  ): Promise<void> {
    const piece = Math.min(MAX_PIECE_BYTES, bucket.burstBytes);
    for (let offset = 0; offset < chunk.byteLength; offset += piece) {
      // A tunnel torn down while it waited takes no more tokens from the household's rate and
      // books no more bytes against its cap.
      if (!open()) return;
      const part = chunk.subarray(offset, offset + piece);
      await bucket.take(part.byteLength);
      if (!open()) return;
      const err = this.pass(part, forward);
      if (err != null) throw err;
    }
  }

  private pass(chunk: Buffer, forward: (part: Buffer) => void): Error | undefined {
    const allowed = this.controls.consume(this.direction, chunk.byteLength);
    if (allowed > 0) {
      this.bytes += allowed;
      forward(allowed === chunk.byteLength ? chunk : chunk.subarray(0, allowed));
    }
    return allowed < chunk.byteLength ? this.controls.notServing() : undefined;
  }
}
