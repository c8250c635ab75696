import type { Tunnel } from './tunnel.ts';

export interface LiveCounts {
  /** Payload bytes towards the target and back, counted by the tunnels themselves. */
  bytesToTarget: number;
  bytesFromTarget: number;
  /** Tunnels opened. */
  tunnels: number;
}

/**
 * Payload bytes per key (a relay, a gateway, a customer) as they stand right now: the totals of
 * closed tunnels plus the live counters of open ones. Receipts need this, since a long tunnel can
 * span many receipt rounds and epochs.
 */
export class LiveCounter {
  private readonly closed = new Map<string, LiveCounts>();
  private readonly open = new Map<string, Set<Tunnel>>();
  private readonly restored = new Map<string, LiveCounts>();
  private readonly towardTarget: (tunnel: Tunnel) => number;
  private readonly fromTarget: (tunnel: Tunnel) => number;

  /** `side` says which tunnel counter is "to target": the gateway sends to it, the relay receives it. */
  constructor(side: 'gateway' | 'relay') {
    this.towardTarget = side === 'gateway' ? (t) => t.bytesSent : (t) => t.bytesReceived;
    this.fromTarget = side === 'gateway' ? (t) => t.bytesReceived : (t) => t.bytesSent;
  }

  track(key: string, tunnel: Tunnel): void {
    const totals = this.totalsFor(key);
    totals.tunnels++;
    let set = this.open.get(key);
    if (set == null) {
      set = new Set();
      this.open.set(key, set);
    }
    set.add(tunnel);
    tunnel.once('close', () => {
      totals.bytesToTarget += this.towardTarget(tunnel);
      totals.bytesFromTarget += this.fromTarget(tunnel);
      set.delete(tunnel);
      if (set.size === 0) this.open.delete(key);
    });
  }

  /** Counts carried over from before this process started (a persisted meter); get() includes them. */
  restore(key: string, counts: LiveCounts): void {
    this.restored.set(key, { ...counts });
  }

  /** Everything counted for the key, including restored counts. */
  get(key: string): LiveCounts {
    const now = this.sinceStart(key);
    const before = this.restored.get(key);
    if (before != null) {
      now.bytesToTarget += before.bytesToTarget;
      now.bytesFromTarget += before.bytesFromTarget;
      now.tunnels += before.tunnels;
    }
    return now;
  }

  /** What this process counted for the key. */
  sinceStart(key: string): LiveCounts {
    const totals = this.closed.get(key) ?? { bytesToTarget: 0, bytesFromTarget: 0, tunnels: 0 };
    const now = { ...totals };
    for (const tunnel of this.open.get(key) ?? []) {
      now.bytesToTarget += this.towardTarget(tunnel);
      now.bytesFromTarget += this.fromTarget(tunnel);
    }
    return now;
  }

  keys(): string[] {
    return [...new Set([...this.restored.keys(), ...this.closed.keys(), ...this.open.keys()])];
  }

  private totalsFor(key: string): LiveCounts {
    let totals = this.closed.get(key);
    if (totals == null) {
      totals = { bytesToTarget: 0, bytesFromTarget: 0, tunnels: 0 };
      this.closed.set(key, totals);
    }
    return totals;
  }
}
