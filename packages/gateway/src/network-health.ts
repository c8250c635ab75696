import type { Gateway } from './gateway.ts';
import { countryOf, score, whyUnroutable } from './relay-pool.ts';

const SAMPLE_INTERVAL_MS = 10_000;
/** Utilisation is judged over the last five minutes. */
const WINDOW_MS = 5 * 60_000;
const EPOCHS_SHOWN = 24;
/** The relays listed one by one, those that carried most first; `/status` lists every one. */
const RELAYS_SHOWN = 50;
/** A customer with a tunnel open now, or one that moved bytes within the window, is active. */
const ACTIVE_WINDOW_MS = WINDOW_MS;

interface Sample {
  at: number;
  servedBytes: number;
  advertisedBytesPerSecond: number;
}

export interface NetworkReport {
  generatedAt: string;
  relays: {
    active: number;
    byCountry: Record<string, number>;
    linked: number;
    /** Up to 50 linked relays, most bytes carried since this gateway started first. */
    list: Array<{
      peerId: string;
      /** Where it is pooled: GeoIP's verdict on its address, else its claim. */
      country: string;
      /** 'routable', or why not (paused by the household, waiting for its signed descriptor, …). */
      state: string;
      activeTunnels: number;
      tunnels: number;
      bytes: number;
      successRate: number;
      connectLatencyMs: number;
      score: number;
    }>;
  };
  utilisation: {
    windowSeconds: number;
    servedBytes: number;
    servedBytesPerSecond: number;
    advertisedBytesPerSecond: number;
    /** Served ÷ advertised capacity of the active relays over the window (0..1). */
    ratio: number | null;
  };
  revenue: {
    openEpoch: number;
    epochs: Array<{
      epoch: number;
      startedAt: string;
      endedAt: string;
      revenueMicros: number;
      feeMicros: number;
      providerPoolMicros: number;
      relaysPaid: number;
      coSignedBytes: number;
    }>;
  };
  customers: {
    active: number;
    list: Array<{
      name: string;
      active: boolean;
      activeTunnels: number;
      tunnels: number;
      bytes: number;
      bytesInWindow: number;
    }>;
  };
}

/**
 * The figures a DePIN network is judged by, as this gateway sees them: active relays by country,
 * utilisation (bytes served against the active relays' advertised capacity), revenue per epoch
 * from the ledger's signed epoch headers, and customer usage. Sampled every 10 s for the window.
 */
export class NetworkHealth {
  private readonly gateway: Gateway;
  private readonly samples: Sample[] = [];
  private readonly customerSamples: Array<{ at: number; bytes: Map<string, number> }> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(gateway: Gateway) {
    this.gateway = gateway;
  }

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer != null) clearInterval(this.timer);
  }

  async report(now = Date.now()): Promise<NetworkReport> {
    const current = this.sample(now, false);
    const first = this.samples.find((s) => s.at >= now - WINDOW_MS) ?? current;
    const elapsedMs = Math.max(1, current.at - first.at);
    // Capacity integrated over time: each interval at the capacity seen at its end.
    const windowSamples = [...this.samples.filter((s) => s.at >= first.at), current];
    let capacityBytes = 0;
    for (let i = 1; i < windowSamples.length; i++) {
      const s = windowSamples[i] as Sample;
      capacityBytes += (s.advertisedBytesPerSecond * (s.at - (windowSamples[i - 1] as Sample).at)) / 1000;
    }
    const advertised = current.at === first.at ? current.advertisedBytesPerSecond : (capacityBytes * 1000) / elapsedMs;
    const servedBytes = current.servedBytes - first.servedBytes;
    const servedPerSecond = current.at === first.at ? 0 : (servedBytes * 1000) / elapsedMs;
    const routable = this.gateway.pool.routable();
    const byCountry: Record<string, number> = {};
    for (const r of routable) byCountry[countryOf(r)] = (byCountry[countryOf(r)] ?? 0) + 1;
    const headers = await this.gateway.ledger.recentEpochs(EPOCHS_SHOWN);
    return {
      generatedAt: new Date(now).toISOString(),
      relays: { active: routable.length, byCountry, linked: this.gateway.pool.all().length, list: this.relayList(now) },
      utilisation: {
        windowSeconds: Math.round(elapsedMs / 1000),
        servedBytes,
        servedBytesPerSecond: Math.round(servedPerSecond),
        advertisedBytesPerSecond: Math.round(advertised),
        ratio: advertised > 0 && current.at > first.at ? Number((servedPerSecond / advertised).toFixed(6)) : null,
      },
      revenue: {
        openEpoch: this.gateway.ledger.openEpoch,
        epochs: headers.map((h) => ({
          epoch: h.epoch,
          startedAt: new Date(h.startedAt).toISOString(),
          endedAt: new Date(h.endedAt).toISOString(),
          revenueMicros: h.revenueMicros,
          feeMicros: h.revenueMicros - h.providerPoolMicros,
          providerPoolMicros: h.providerPoolMicros,
          relaysPaid: h.rewards.length,
          coSignedBytes: h.rewards.reduce((sum, r) => sum + r.bytes, 0),
        })),
      },
      customers: this.customerReport(now),
    };
  }

  private relayList(now: number): NetworkReport['relays']['list'] {
    const carried = this.gateway.service.usage().relays;
    const rows = this.gateway.pool.all().map((r) => {
      const c = carried[r.peerId];
      return {
        peerId: r.peerId,
        country: countryOf(r),
        state: whyUnroutable(r, undefined, now) ?? 'routable',
        activeTunnels: r.mux.activeTunnels,
        tunnels: c?.tunnels ?? 0,
        bytes: (c?.bytesToTarget ?? 0) + (c?.bytesFromTarget ?? 0),
        successRate: Number(r.successRate.toFixed(3)),
        connectLatencyMs: Number(r.connectLatencyMs.toFixed(1)),
        score: Number(score(r).toFixed(3)),
      };
    });
    rows.sort((a, b) => b.bytes - a.bytes || b.tunnels - a.tunnels || a.peerId.localeCompare(b.peerId));
    return rows.slice(0, RELAYS_SHOWN);
  }

  private customerReport(now: number): NetworkReport['customers'] {
    const service = this.gateway.service;
    const before = this.customerSamples.find((s) => s.at >= now - ACTIVE_WINDOW_MS);
    const list = service.store.list().map((c) => {
      const usage = service.store.usage(c.name);
      const bytes = usage.bytesToTarget + usage.bytesFromTarget;
      const activeTunnels = service.activeFor(c.name);
      const bytesInWindow = bytes - (before?.bytes.get(c.name) ?? bytes);
      return {
        name: c.name,
        active: activeTunnels > 0 || bytesInWindow > 0,
        activeTunnels,
        tunnels: usage.tunnels,
        bytes,
        bytesInWindow,
      };
    });
    return { active: list.filter((c) => c.active).length, list };
  }

  private sample(now = Date.now(), keep = true): Sample {
    const relays = this.gateway.service.usage().relays;
    let served = 0;
    for (const counts of Object.values(relays)) served += counts.bytesToTarget + counts.bytesFromTarget;
    const advertised = this.gateway.pool
      .routable()
      .reduce((sum, r) => sum + (r.descriptor?.capacityBytesPerSecond ?? 0), 0);
    const sample = { at: now, servedBytes: served, advertisedBytesPerSecond: advertised };
    if (keep) {
      this.samples.push(sample);
      while ((this.samples[0]?.at ?? now) < now - WINDOW_MS - SAMPLE_INTERVAL_MS) this.samples.shift();
      const store = this.gateway.service.store;
      const bytes = new Map(
        store.list().map((c) => {
          const u = store.usage(c.name);
          return [c.name, u.bytesToTarget + u.bytesFromTarget];
        }),
      );
      this.customerSamples.push({ at: now, bytes });
      while ((this.customerSamples[0]?.at ?? now) < now - WINDOW_MS - SAMPLE_INTERVAL_MS) this.customerSamples.shift();
    }
    return sample;
  }
}
