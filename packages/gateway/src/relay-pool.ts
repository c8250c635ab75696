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
  /** Moving averages of tunnel setup: success (0..1) and latency. */
  successRate: number;
  connectLatencyMs: number;
}

export interface ChooseOptions {
  country?: string;
  port: number;
  exclude: ReadonlySet<string>;
}

const EWMA_WEIGHT = 0.2;

/**
 * Relays this gateway can route through: linked (the relay dialled us) and described (its signed
 * descriptor came from the DHT). Choice is "power of two choices" on a quality score.
 */
export class RelayPool {
  private readonly relays = new Map<string, PooledRelay>();
  private readonly random: () => number;

  constructor(random: () => number = Math.random) {
    this.random = random;
  }

  addLink(peerId: string, mux: TunnelMux): PooledRelay {
    const relay: PooledRelay = { peerId, mux, linkedAt: Date.now(), successRate: 1, connectLatencyMs: 50 };
    const previous = this.relays.get(peerId);
    if (previous != null) relay.descriptor = previous.descriptor;
    this.relays.set(peerId, relay);
    return relay;
  }

  removeLink(peerId: string, mux: TunnelMux): void {
    if (this.relays.get(peerId)?.mux === mux) this.relays.delete(peerId);
  }

  get(peerId: string): PooledRelay | undefined {
    return this.relays.get(peerId);
  }

  all(): PooledRelay[] {
    return [...this.relays.values()];
  }

  isRoutable(relay: PooledRelay, port?: number, now = Date.now()): boolean {
    const d = relay.descriptor;
    if (d == null || relay.mux.isClosed) return false;
    if (d.state !== 'serving' || d.expiresAt <= now) return false;
    if (d.remainingBytes === 0) return false;
    if (port != null && d.rejectedPorts.includes(port)) return false;
    return true;
  }

  routable(country?: string, port?: number): PooledRelay[] {
    return this.all().filter((r) => this.isRoutable(r, port) && (country == null || countryOf(r) === country));
  }

  choose(options: ChooseOptions): PooledRelay | undefined {
    const candidates = this.routable(options.country, options.port).filter((r) => !options.exclude.has(r.peerId));
    if (candidates.length <= 1) return candidates[0];
    const a = candidates[Math.floor(this.random() * candidates.length)] as PooledRelay;
    let b = candidates[Math.floor(this.random() * (candidates.length - 1))] as PooledRelay;
    if (b === a) b = candidates[candidates.length - 1] as PooledRelay;
    return score(a) >= score(b) ? a : b;
  }

  recordResult(relay: PooledRelay, ok: boolean, latencyMs?: number): void {
    relay.successRate = relay.successRate * (1 - EWMA_WEIGHT) + (ok ? 1 : 0) * EWMA_WEIGHT;
    if (latencyMs != null)
      relay.connectLatencyMs = relay.connectLatencyMs * (1 - EWMA_WEIGHT) + latencyMs * EWMA_WEIGHT;
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

export function countryOf(relay: PooledRelay): string {
  return relay.country ?? relay.descriptor?.country ?? '??';
}

/** Higher is better: success rate, discounted by connect latency and by how full the relay is. */
export function score(relay: PooledRelay): number {
  const max = relay.descriptor?.maxTunnels ?? 1;
  const load = relay.mux.activeTunnels / Math.max(1, max);
  return relay.successRate / (1 + relay.connectLatencyMs / 200) / (1 + load);
}
