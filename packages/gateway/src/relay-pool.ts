import type { LinkWatch, RelayDescriptor } from '@meadow/discovery';
import type { TunnelMux } from '@meadow/protocol';

export interface PooledRelay {
  peerId: string;
  mux: TunnelMux;
  /** Verified descriptor fetched from the DHT; a relay is routable only once it has one. */
  descriptor?: RelayDescriptor;
  linkedAt: number;
  /** The address the relay's connection comes from, as this gateway sees it. */
  observedAddress?: string;
  /** The country it is pooled under: GeoIP's verdict on the observed address, else the claimed one. */
  country?: string;
  /** Health pings missed in a row. */
  pingFailures?: number;
  /** Pings the relay when its link carries tunnels but has gone silent. */
  watch?: LinkWatch;
  /** The relay said it is moving to another gateway, or stopping: no new tunnels, and its link closes soon. */
  leaving?: 'moving' | 'stopping';
  /**
   * Moving averages of tunnel setup, success (0..1) and latency, faded back towards an unmeasured
   * relay's (1 and 0 ms) as they age: see `record`.
   */
  readonly successRate: number;
  readonly connectLatencyMs: number;
  /** When `RelayPool.choose` last picked it, as a count of choices (0: never). */
  readonly lastChosen: number;
  /** Adds one tunnel setup to the moving averages: whether it worked, and how long it took. */
  record(ok: boolean, latencyMs?: number): void;
}

export interface ChooseOptions {
  country?: string;
  port: number;
  exclude: ReadonlySet<string>;
}

const EWMA_WEIGHT = 0.2;
/**
 * A measurement's weight halves every minute. A relay that is never chosen is never measured, so
 * without this one slow connect (a slow web site, not the relay) would keep a household's relay
 * out of every comparison for good; faded, it is tried again after a few minutes.
 */
const QUALITY_HALF_LIFE_MS = 60_000;
/**
 * Scores closer than this are a tie, won by the relay chosen less recently. Relays a few
 * milliseconds apart are equally good to a crawler, and the strictly better one would otherwise win
 * every comparison: with three relays on one LAN, one would never carry a byte. Less recently
 * rather than at random, so a rotating crawler's consecutive tunnels leave from different exits.
 */
const TIE_RATIO = 1.1;

/**
 * Up to this many candidates, a choice looks at all of them; in larger lists it samples, so a
 * tunnel's relay choice costs the same with 10 relays as with 10 000 (`loadtest:pool-choice`).
 */
const SCAN_LIMIT = 16;
/** Random draws a sampled choice makes before it falls back to looking at every candidate. */
const MAX_DRAWS = 32;

/**
 * Relays this gateway can route through: linked (the relay dialled us) and described (its signed
 * descriptor came from the DHT). Choice is "power of two choices" on a quality score: two routable
 * relays drawn at random from the country's (or everyone's) list, the better one wins.
 */
export class RelayPool {
  private readonly relays = new Map<string, Entry>();
  private readonly everyone = new IndexedList<Entry>();
  private readonly byCountry = new Map<string, IndexedList<Entry>>();
  private readonly random: () => number;
  private choices = 0;

  constructor(random: () => number = Math.random) {
    this.random = random;
  }

  addLink(peerId: string, mux: TunnelMux): PooledRelay {
    const previous = this.relays.get(peerId);
    if (previous != null) this.unlist(previous);
    const relay = new Entry(peerId, mux, (entry, from) => this.moved(entry, from));
    if (previous != null) relay.descriptor = previous.descriptor;
    this.relays.set(peerId, relay);
    this.everyone.add(relay);
    this.listIn(relay, countryOf(relay));
    return relay;
  }

  removeLink(peerId: string, mux: TunnelMux): void {
    const relay = this.relays.get(peerId);
    if (relay?.mux !== mux) return;
    this.relays.delete(peerId);
    this.unlist(relay);
  }

  get(peerId: string): PooledRelay | undefined {
    return this.relays.get(peerId);
  }

  all(): PooledRelay[] {
    return [...this.relays.values()];
  }

  isRoutable(relay: PooledRelay, port?: number, now = Date.now()): boolean {
    return whyUnroutable(relay, port, now) == null;
  }

  routable(country?: string, port?: number): PooledRelay[] {
    return this.all().filter((r) => this.isRoutable(r, port) && (country == null || countryOf(r) === country));
  }

  choose(options: ChooseOptions): PooledRelay | undefined {
    const chosen = this.pick(options);
    if (chosen != null) chosen.lastChosen = ++this.choices;
    return chosen;
  }

  private pick(options: ChooseOptions): Entry | undefined {
    const list = options.country == null ? this.everyone : this.byCountry.get(options.country);
    if (list == null || list.size === 0) return undefined;
    const now = Date.now();
    const usable = (r: PooledRelay): boolean => !options.exclude.has(r.peerId) && this.isRoutable(r, options.port, now);
    if (list.size > SCAN_LIMIT) {
      // Draws with replacement, skipping unusable relays: each usable relay is equally likely.
      let a: Entry | undefined;
      for (let draw = 0; draw < MAX_DRAWS; draw++) {
        const r = list.at(Math.floor(this.random() * list.size));
        if (r === a || !usable(r)) continue;
        if (a == null) a = r;
        else return better(a, r, this.random);
      }
      // Most of the list is unusable (or the draws were unlucky): look at all of it.
    }
    return betterOfTwo(list.filter(usable), this.random);
  }

  /**
   * Why `choose` finds no relay for these options, in words for the crawler's error: each relay of
   * the country by the first reason it is unusable. Runs only on that error's path.
   */
  whyNone(options: ChooseOptions, now = Date.now()): NoRelay {
    const list = options.country == null ? this.everyone : this.byCountry.get(options.country);
    const where = options.country == null ? '' : ` in ${options.country}`;
    if (list == null || list.size === 0) {
      const elsewhere = Object.entries(this.countByCountry()).map(([country, count]) => `${country} ${count}`);
      if (options.country == null || elsewhere.length === 0)
        return { onlyPort: false, message: 'no relay is linked to this gateway yet' };
      return {
        onlyPort: false,
        message: `no relay${where} is linked to this gateway (routable relays: ${elsewhere.join(', ')})`,
      };
    }
    const reasons = new Map<string, number>();
    for (let i = 0; i < list.size; i++) {
      const reason = unusableBecause(list.at(i), options, now);
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
    const relays = list.size === 1 ? `the one relay${where}` : `all ${list.size} relays${where}`;
    if (reasons.size === 1 && reasons.has(PORT_REFUSED))
      return { onlyPort: true, message: `port ${options.port} is refused by the exit policy of ${relays}` };
    const parts = [...reasons].map(
      ([reason, count]) => `${count} ${reason === PORT_REFUSED ? `refuse port ${options.port} (exit policy)` : reason}`,
    );
    return { onlyPort: false, message: `no relay available for port ${options.port}, ${relays}: ${parts.join(', ')}` };
  }

  private moved(relay: Entry, from: string): void {
    if (this.relays.get(relay.peerId) !== relay) return; // no longer pooled
    const to = countryOf(relay);
    if (to === from) return;
    this.byCountry.get(from)?.delete(relay);
    this.listIn(relay, to);
  }

  private listIn(relay: Entry, country: string): void {
    let list = this.byCountry.get(country);
    if (list == null) {
      list = new IndexedList();
      this.byCountry.set(country, list);
    }
    list.add(relay);
  }

  private unlist(relay: Entry): void {
    this.everyone.delete(relay);
    const country = countryOf(relay);
    const list = this.byCountry.get(country);
    list?.delete(relay);
    if (list?.size === 0) this.byCountry.delete(country);
  }

  countByCountry(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const r of this.routable()) {
      const c = countryOf(r);
      counts[c] = (counts[c] ?? 0) + 1;
    }
    return counts;
  }
}

/** What `RelayPool.whyNone` found. */
export interface NoRelay {
  /** Every relay there would serve, but refuses the port by its exit policy. */
  onlyPort: boolean;
  /** E.g. "no relay available for port 443, all 3 relays in DE: 2 paused by the household, 1 out of data this period". */
  message: string;
}

const PORT_REFUSED = 'refuses the port by its exit policy';

/** The first reason the choice turns this relay down: its exclusions, then `whyUnroutable`. */
function unusableBecause(relay: PooledRelay, options: ChooseOptions, now: number): string {
  if (options.exclude.has(relay.peerId)) return 'failed for this request';
  return whyUnroutable(relay, options.port, now) ?? 'usable again since the choice';
}

/**
 * Why no tunnel can go through this relay now (for `port`, when given), in words; undefined when
 * one can. `isRoutable` is this on every tunnel's path, so the answers are constants.
 */
export function whyUnroutable(relay: PooledRelay, port?: number, now = Date.now()): string | undefined {
  const d = relay.descriptor;
  if (relay.mux.isClosed) return 'link closing';
  if (relay.leaving === 'moving') return 'moving to another gateway';
  if (relay.leaving === 'stopping') return 'stopping';
  if (d == null) return 'waiting for its signed descriptor';
  if (d.state !== 'serving') return STATE_REASONS[d.state];
  if (d.expiresAt <= now) return 'descriptor expired';
  if (d.remainingBytes === 0) return 'out of data this period';
  if (port != null && d.rejectedPorts.includes(port)) return PORT_REFUSED;
  return undefined;
}

const STATE_REASONS: Record<RelayDescriptor['state'], string> = {
  serving: 'serving',
  paused: 'paused by the household',
  hibernating: "at the household's data cap",
  'outside-schedule': "outside the household's sharing hours",
};

export function countryOf(relay: PooledRelay): string {
  return relay.country ?? relay.descriptor?.country ?? '??';
}

/** The better of two distinct candidates drawn at random (power of two choices). */
export function betterOfTwo<R extends PooledRelay>(candidates: R[], random: () => number): R | undefined {
  if (candidates.length <= 1) return candidates[0];
  const a = candidates[Math.floor(random() * candidates.length)] as R;
  let b = candidates[Math.floor(random() * (candidates.length - 1))] as R;
  if (b === a) b = candidates[candidates.length - 1] as R;
  return better(a, b, random);
}

/**
 * The one with the higher score; when the scores are within `TIE_RATIO`, the one chosen less
 * recently, and either at random when neither has been chosen yet.
 */
function better<R extends PooledRelay>(a: R, b: R, random: () => number): R {
  const sa = score(a);
  const sb = score(b);
  if (sa > sb * TIE_RATIO) return a;
  if (sb > sa * TIE_RATIO) return b;
  if (a.lastChosen !== b.lastChosen) return a.lastChosen < b.lastChosen ? a : b;
  return random() < 0.5 ? a : b;
}

/**
 * Higher is better: success rate, discounted by connect latency and by how full the relay is. A
 * relay not measured yet scores as a perfect one, so it is tried as soon as it is drawn.
 */
export function score(relay: PooledRelay): number {
  const max = relay.descriptor?.maxTunnels ?? 1;
  const load = relay.mux.activeTunnels / Math.max(1, max);
  return relay.successRate / (1 + relay.connectLatencyMs / 200) / (1 + load);
}

/**
 * A pooled relay whose country (the pool's index) is kept in step when the pool keeper sets its
 * descriptor or GeoIP verdict: `onMoved` hears the country it was listed under before.
 */
class Entry implements PooledRelay {
  readonly peerId: string;
  readonly mux: TunnelMux;
  readonly linkedAt = Date.now();
  observedAddress?: string;
  pingFailures?: number;
  watch?: LinkWatch;
  leaving: 'moving' | 'stopping' | undefined;
  lastChosen = 0;
  private failureAverage = 0;
  private latencyAverage = 0;
  private measuredAt = 0;
  private current?: RelayDescriptor;
  private verdict?: string;
  private readonly onMoved: (entry: Entry, from: string) => void;

  constructor(peerId: string, mux: TunnelMux, onMoved: (entry: Entry, from: string) => void) {
    this.peerId = peerId;
    this.mux = mux;
    this.onMoved = onMoved;
  }

  get successRate(): number {
    return 1 - this.failureAverage * this.fade(Date.now());
  }

  get connectLatencyMs(): number {
    return this.latencyAverage * this.fade(Date.now());
  }

  record(ok: boolean, latencyMs?: number): void {
    const now = Date.now();
    const fade = this.fade(now);
    this.failureAverage = this.failureAverage * fade * (1 - EWMA_WEIGHT) + (ok ? 0 : EWMA_WEIGHT);
    this.latencyAverage *= fade;
    if (latencyMs != null) this.latencyAverage = this.latencyAverage * (1 - EWMA_WEIGHT) + latencyMs * EWMA_WEIGHT;
    this.measuredAt = now;
  }

  /** How much of the last measurement's weight is left (averages fade towards 0 failures, 0 ms). */
  private fade(now: number): number {
    return now <= this.measuredAt ? 1 : 0.5 ** ((now - this.measuredAt) / QUALITY_HALF_LIFE_MS);
  }

  get descriptor(): RelayDescriptor | undefined {
    return this.current;
  }

  set descriptor(descriptor: RelayDescriptor | undefined) {
    this.relisted(() => {
      this.current = descriptor;
    });
  }

  get country(): string | undefined {
    return this.verdict;
  }

  set country(country: string | undefined) {
    this.relisted(() => {
      this.verdict = country;
    });
  }

  /** Applies a change that may move the relay to another country, and tells the pool. */
  private relisted(change: () => void): void {
    const from = countryOf(this);
    change();
    this.onMoved(this, from);
  }
}

/** A list with O(1) add, delete and access by position (deletion moves the last item into the gap). */
class IndexedList<T> {
  private readonly items: T[] = [];
  private readonly positions = new Map<T, number>();

  get size(): number {
    return this.items.length;
  }

  at(index: number): T {
    return this.items[index] as T;
  }

  add(item: T): void {
    if (this.positions.has(item)) return;
    this.positions.set(item, this.items.length);
    this.items.push(item);
  }

  delete(item: T): void {
    const index = this.positions.get(item);
    if (index == null) return;
    const last = this.items.pop() as T;
    this.positions.delete(item);
    if (last !== item) {
      this.items[index] = last;
      this.positions.set(last, index);
    }
  }

  filter(keep: (item: T) => boolean): T[] {
    return this.items.filter(keep);
  }
}
