/**
 * Yielding to the household's own traffic, the way BitTorrent's LEDBAT (RFC 6817) does: a relay
 * that fills the household's line fills its modem's queue too, and every video call and game at
 * home then waits behind that queue. The relay times a ping to each gateway it is linked to,
 * about once a second while it carries traffic. The lowest round trip seen on a link in the last
 * ten minutes is the line with empty queues; what a ping takes beyond it is queueing delay. Above
 * the target, the relay lowers a ceiling on its own rate, in proportion to the excess; below it,
 * the ceiling rises again, and after a quiet spell it is lifted. The ping travels behind the
 * relay's own bytes in its socket buffer too, so it overstates the delay the household feels: the
 * relay errs on the household's side.
 */
export interface YieldInit {
  /** Queueing delay the relay may add to the household's line (RFC 6817: at most 100 ms). */
  targetDelayMs: number;
  /** The ceiling never goes below this, so tunnels do not stall outright. */
  minBytesPerSecond: number;
  now?: () => number;
}

/** What a round of `adjust` decided, for logs and metrics. */
export interface YieldState {
  /** Queueing delay now (ms), from the freshest ping of each link: the largest. */
  queueDelayMs: number | undefined;
  /** The ceiling on what the relay sends its gateways (bytes/s), or undefined while it is not yielding. */
  ceilingBytesPerSecond: number | undefined;
  /** The relay holds back for a moment to see the line empty (see `BASE_PROBE_INTERVAL_MS`). */
  probing: boolean;
}

/** Minima kept per link: one per minute, for this many minutes. */
const BASE_HISTORY_MINUTES = 10;
/** A link's delay is the lowest of its last few samples (a lone slow ping is not a queue). */
const CURRENT_SAMPLES = 2;
/** A link's samples older than this say nothing about the line now. */
const FRESH_MS = 5_000;
/** Rounds in a row below half the target before the ceiling is lifted. */
const QUIET_ROUNDS_TO_LIFT = 30;
/**
 * A relay that carries traffic without a pause never sees its line empty, and a queue it measured
 * from the start would look like the line itself. So, as LEDBAT++ does, once a minute without a
 * quiet sample it holds its rate at the floor: the queue drains, and the pings see the empty
 * line. It holds for at least `PROBE_MIN_ROUNDS` rounds, longer while the round trips still fall
 * by a fifth a round (a backlog is draining), but never more than `PROBE_MAX_ROUNDS`. A few
 * seconds of a busy minute.
 */
const BASE_PROBE_INTERVAL_MS = 60_000;
const PROBE_MIN_ROUNDS = 2;
const PROBE_MAX_ROUNDS = 6;

interface LinkDelays {
  /** [minute, lowest round trip in that minute], oldest first. */
  base: Array<[number, number]>;
  recent: Array<{ at: number; rttMs: number }>;
}

export class HouseholdYield {
  private readonly init: Required<YieldInit>;
  private readonly delays = new Map<string, LinkDelays>();
  private ceiling: number | undefined;
  private quietRounds = 0;
  /** When a ping last saw the line without the relay's traffic (idle, or during a probe). */
  private quietSampleAt = Number.NEGATIVE_INFINITY;
  /** Rounds the current look at the empty line has lasted (0: none under way). */
  private probeRounds = 0;
  /** The lowest round trip of each of the last two probe rounds, the newest last. */
  private probeMinima: number[] = [];
  private ceilingBeforeProbe: number | undefined;

  constructor(init: YieldInit) {
    this.init = { now: Date.now, ...init };
  }

  /** A ping's round trip over the link to `gateway`; `idle`: the relay carried nothing meanwhile. */
  sample(gateway: string, rttMs: number, idle = false): void {
    const now = this.init.now();
    if (idle) this.quietSampleAt = now;
    if (this.probeRounds > 0) {
      const last = this.probeMinima.length - 1;
      this.probeMinima[last] = Math.min(this.probeMinima[last] ?? Number.POSITIVE_INFINITY, rttMs);
    }
    const minute = Math.floor(now / 60_000);
    let link = this.delays.get(gateway);
    if (link == null) {
      link = { base: [], recent: [] };
      this.delays.set(gateway, link);
    }
    const last = link.base.at(-1);
    if (last?.[0] === minute) last[1] = Math.min(last[1], rttMs);
    else link.base.push([minute, rttMs]);
    while ((link.base[0]?.[0] ?? minute) <= minute - BASE_HISTORY_MINUTES) link.base.shift();
    link.recent.push({ at: now, rttMs });
    if (link.recent.length > CURRENT_SAMPLES) link.recent.shift();
  }

  /** Whether the link to `gateway` has samples. */
  knows(gateway: string): boolean {
    return this.delays.has(gateway);
  }

  /** The links with samples. */
  links(): string[] {
    return [...this.delays.keys()];
  }

  /** The link is gone: its history says nothing about a new one. */
  forget(gateway: string): void {
    this.delays.delete(gateway);
  }

  /** Queueing delay now: the largest over links with fresh samples, undefined without any. */
  queueDelayMs(): number | undefined {
    const now = this.init.now();
    let delay: number | undefined;
    for (const link of this.delays.values()) {
      const fresh = link.recent.filter((s) => now - s.at <= FRESH_MS);
      if (fresh.length === 0) continue;
      const current = Math.min(...fresh.map((s) => s.rttMs));
      const base = Math.min(...link.base.map(([, rtt]) => rtt));
      delay = Math.max(delay ?? 0, current - base);
    }
    return delay;
  }

  /**
   * One control round, about once a second while tunnels carry data: `carriedBytesPerSecond` is
   * what the relay sent its gateways since the last round.
   */
  adjust(carriedBytesPerSecond: number): YieldState {
    const { targetDelayMs: target, minBytesPerSecond: floor } = this.init;
    if (this.probeRounds > 0) {
      const [before, latest] = this.probeMinima;
      const falling = before != null && latest != null && latest < before * 0.8;
      if (this.probeRounds < PROBE_MIN_ROUNDS || (falling && this.probeRounds < PROBE_MAX_ROUNDS)) {
        this.probeRounds++;
        this.probeMinima = [latest ?? Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
        return { queueDelayMs: undefined, ceilingBytesPerSecond: floor, probing: true };
      }
      // The last round's pings saw the line as empty as it gets.
      this.probeRounds = 0;
      this.quietSampleAt = this.init.now();
      this.ceiling = this.ceilingBeforeProbe;
    } else if (this.init.now() - this.quietSampleAt >= BASE_PROBE_INTERVAL_MS) {
      this.ceilingBeforeProbe = this.ceiling;
      this.probeRounds = 1;
      this.probeMinima = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
      return { queueDelayMs: undefined, ceilingBytesPerSecond: floor, probing: true };
    }
    const delay = this.queueDelayMs();
    if (delay != null && delay > target) {
      this.quietRounds = 0;
      // Down in proportion to the excess, at most halved in one round, from what was carried.
      const from = Math.min(this.ceiling ?? Number.POSITIVE_INFINITY, Math.max(carriedBytesPerSecond, floor));
      this.ceiling = Math.max(floor, Math.round(from * Math.max(0.5, 1 - (0.5 * (delay - target)) / target)));
    } else if (this.ceiling != null && delay != null) {
      this.quietRounds = delay < target / 2 ? this.quietRounds + 1 : 0;
      if (this.quietRounds >= QUIET_ROUNDS_TO_LIFT) {
        this.ceiling = undefined;
        this.quietRounds = 0;
      } else {
        // Up by as much as a quarter a round while there is room under the target, but not far
        // past what the relay carried: a ceiling nothing pressed on says nothing about the line.
        const raised = Math.round(this.ceiling * (1 + (0.25 * (target - delay)) / target));
        this.ceiling = Math.max(this.ceiling, Math.min(raised, Math.round(carriedBytesPerSecond * 1.5)));
      }
    }
    return { queueDelayMs: delay, ceilingBytesPerSecond: this.ceiling, probing: false };
  }
}
