import type { Connection, Stream } from '@libp2p/interface';
import {
  type CountryChecker,
  type Discovery,
  ipOfMultiaddr,
  isPublicAddress,
  LinkWatch,
  type MeadowNode,
  openConnectionTo,
  sybilNetwork,
} from '@meadow/discovery';
import {
  MeadowError,
  NOTICE_DESCRIPTOR_CHANGED,
  NOTICE_RELAY_LEAVING,
  NOTICE_RELAY_STOPPING,
  streamLink,
  TunnelMux,
} from '@meadow/protocol';
import type { Logger } from 'pino';
import type { GatewayMetrics } from './metrics.ts';
import type { PooledRelay, RelayPool } from './relay-pool.ts';

const REFRESHES_AT_ONCE = 16;
const PINGS_AT_ONCE = 128;

export interface PoolKeeperInit {
  /** Most relays linked from one public IP address, and from one /24 (IPv6: /48). */
  maxRelaysPerIp: number;
  maxRelaysPerNetwork: number;
  /** Ping interval for linked relays; after `maxPingFailures` misses in a row a relay is evicted. */
  healthCheckIntervalMs: number;
  maxPingFailures: number;
  /** How long a newly linked relay has to get its descriptor into the DHT. */
  describeDeadlineMs: number;
  /**
   * A link with open tunnels that has received nothing for this long is probed with a ping; if the
   * ping fails within `stallProbeTimeoutMs` the link is cut, so tunnels on a frozen relay end with
   * an error within seconds instead of hanging.
   */
  stallAfterMs: number;
  stallProbeTimeoutMs: number;
}

/**
 * Keeps the gateway's relay pool honest: admits relay links within the Sybil limits, makes a relay
 * routable only once its signed descriptor is fetched from the DHT, pools it under the country
 * GeoIP observes (not the one it claims), pings it, and evicts relays that stop answering or whose
 * descriptor goes stale.
 */
export class PoolKeeper {
  private readonly init: PoolKeeperInit;
  private readonly pool: RelayPool;
  private readonly node: MeadowNode;
  private readonly discovery: Discovery;
  private readonly countries: CountryChecker;
  private readonly metrics: GatewayMetrics;
  private readonly log: Logger;
  private stopping = false;
  /** Told when a relay says it leaves this gateway (for another gateway, or stopping). */
  onRelayLeaving: ((relay: PooledRelay) => void) | undefined;

  constructor(
    init: PoolKeeperInit,
    deps: {
      pool: RelayPool;
      node: MeadowNode;
      discovery: Discovery;
      countries: CountryChecker;
      metrics: GatewayMetrics;
      logger: Logger;
    },
  ) {
    this.init = init;
    this.pool = deps.pool;
    this.node = deps.node;
    this.discovery = deps.discovery;
    this.countries = deps.countries;
    this.metrics = deps.metrics;
    this.log = deps.logger;
  }

  stop(): void {
    this.stopping = true;
  }

  /** A relay opened its link stream to us. */
  onRelayLink(stream: Stream, connection: Connection): void {
    const peerId = connection.remotePeer.toString();
    const observedAddress = ipOfMultiaddr(connection.remoteAddr);
    let lastRefetch = 0;
    let relay: PooledRelay | undefined;
    const mux = new TunnelMux(streamLink(stream), {
      onNotice: (notice) => {
        if (relay != null && notice === NOTICE_RELAY_LEAVING && !relay.leaving) {
          // Taken at its word: it only costs this gateway a relay the relay is taking away anyway.
          relay.leaving = 'moving';
          this.metrics.relaysMoving.inc();
          this.log.info(
            { relay: peerId, openTunnels: relay.mux.activeTunnels },
            'relay is moving to another gateway: no new tunnels go to it, its open ones finish, then a last receipt',
          );
          this.onRelayLeaving?.(relay);
          return;
        }
        if (relay != null && notice === NOTICE_RELAY_STOPPING && !relay.leaving) {
          relay.leaving = 'stopping';
          this.log.info(
            { relay: peerId, openTunnels: relay.mux.activeTunnels },
            'relay is stopping: no new tunnels go to it, its open ones finish, then a last receipt',
          );
          this.onRelayLeaving?.(relay);
          return;
        }
        // Only a hint: the descriptor itself comes from the DHT and is verified. At most one refetch a second.
        if (relay == null || notice !== NOTICE_DESCRIPTOR_CHANGED || Date.now() - lastRefetch < 1_000) return;
        lastRefetch = Date.now();
        void this.refetch(relay);
      },
      onClose: (err) => {
        this.pool.removeLink(peerId, mux);
        this.metrics.relayLinks.set(this.pool.all().length);
        if (!this.stopping) this.log.info({ relay: peerId, reason: err?.message }, 'relay link closed');
      },
    });
    const refusal = this.sybilRefusal(observedAddress);
    if (refusal != null) {
      this.metrics.evictions.inc({ reason: 'sybil_limit' });
      this.log.warn({ relay: peerId, observedAddress, reason: refusal }, 'relay link refused');
      mux.abort(new Error(refusal));
      return;
    }
    relay = this.pool.addLink(peerId, mux);
    relay.observedAddress = observedAddress;
    this.metrics.relayLinks.set(this.pool.all().length);
    this.log.info({ relay: peerId }, 'relay linked; fetching its signed descriptor (from the relay, else the DHT)');
    void this.describe(relay);
  }

  /** Fetches every linked relay's descriptor again; evicts relays whose descriptor expired. */
  async refreshAll(): Promise<void> {
    // A few at a time: one by one, a thousand relays at one round trip each (or a slow one's
    // 8 s of timeouts) outlast the refresh interval.
    await eachLimited(this.pool.all(), REFRESHES_AT_ONCE, async (relay) => {
      await this.refetch(relay);
      if (relay.descriptor != null && relay.descriptor.expiresAt <= Date.now())
        this.evict(relay, 'stale', 'descriptor expired');
    });
  }

  /** Pings every linked relay once; evicts those that missed too many pings in a row. */
  async checkHealth(): Promise<void> {
    // Bounded, so thousands of relays are not pinged in one burst of new streams.
    await eachLimited(this.pool.all(), PINGS_AT_ONCE, async (relay) => {
      const asked = Date.now();
      try {
        const connection = openConnectionTo(this.node, relay.peerId);
        if (connection == null) throw new Error('not connected');
        await this.node.services.ping.ping(connection.remotePeer, {
          signal: AbortSignal.timeout(Math.min(5_000, this.init.healthCheckIntervalMs)),
        });
        relay.pingFailures = 0;
      } catch {
        // A relay's reply waits behind whatever its upload already carries: on a slow line filled
        // by tunnels, seconds. Bytes arriving on its link meanwhile prove it alive as well as a
        // reply would, and evicting it would end every one of those tunnels.
        if (!relay.mux.isClosed && relay.mux.lastReceivedAt >= asked) {
          relay.pingFailures = 0;
          return;
        }
        relay.pingFailures = (relay.pingFailures ?? 0) + 1;
        if (relay.pingFailures >= this.init.maxPingFailures)
          this.evict(relay, 'ping', `missed ${relay.pingFailures} pings`);
      }
    });
  }

  /**
   * Probes links that carry tunnels but have been silent for `stallAfterMs`. A frozen relay (a
   * suspended laptop, a stalled uplink) keeps its TCP connection open, so only a reply proves it
   * is alive; a silent idle tunnel costs one ping per interval.
   */
  checkStalls(now = Date.now()): void {
    const limits = { silentMs: this.init.stallAfterMs, timeoutMs: this.init.stallProbeTimeoutMs };
    for (const relay of this.pool.all()) {
      if (relay.mux.activeTunnels === 0) continue;
      relay.watch ??= new LinkWatch(this.node, relay.peerId, relay.mux);
      relay.watch.check(
        limits,
        (detail) => this.evict(relay, 'stalled', `${detail}, with ${relay.mux.activeTunnels} tunnels open`),
        now,
      );
    }
  }

  private evict(relay: PooledRelay, reason: 'ping' | 'stale' | 'no_descriptor' | 'stalled', detail: string): void {
    if (relay.mux.isClosed) return;
    this.metrics.evictions.inc({ reason });
    this.log.warn({ relay: relay.peerId, reason: detail }, 'relay evicted from the pool');
    this.pool.removeLink(relay.peerId, relay.mux);
    relay.mux.abort(new MeadowError('MEADOW_ERR_RELAY_LOST', `relay evicted: ${detail}`));
  }

  private sybilRefusal(address: string | undefined): string | undefined {
    if (address == null || !isPublicAddress(address)) return undefined;
    const linked = this.pool.all().filter((r) => r.observedAddress != null && isPublicAddress(r.observedAddress));
    const sameIp = linked.filter((r) => r.observedAddress === address).length;
    if (sameIp >= this.init.maxRelaysPerIp) return `already ${sameIp} relays from ${address}`;
    const network = sybilNetwork(address);
    const sameNetwork = linked.filter((r) => sybilNetwork(r.observedAddress as string) === network).length;
    if (sameNetwork >= this.init.maxRelaysPerNetwork) return `already ${sameNetwork} relays from ${network}`;
    return undefined;
  }

  private async describe(relay: PooledRelay): Promise<void> {
    const deadline = Date.now() + this.init.describeDeadlineMs;
    while (!this.stopping && !relay.mux.isClosed && Date.now() < deadline) {
      if (await this.refetch(relay)) {
        this.log.info({ relay: relay.peerId, country: relay.country }, 'relay is routable');
        return;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    if (!this.stopping) this.evict(relay, 'no_descriptor', 'no valid descriptor in the DHT');
  }

  /** Fetches (from the relay, else the DHT) and verifies a relay's descriptor; true if the relay now has one. */
  private async refetch(relay: PooledRelay): Promise<boolean> {
    try {
      // From the relay itself first (one round trip on its link), from the DHT if that fails: the
      // record is verified the same way either way.
      const descriptor = await this.discovery
        .fetchDescriptorFrom(relay.peerId, { signal: AbortSignal.timeout(3_000) })
        .catch(() => this.discovery.fetchDescriptor(relay.peerId, { signal: AbortSignal.timeout(5_000) }));
      // The DHT may briefly still answer with an older record: never go back in time.
      if (descriptor.issuedAt < (relay.descriptor?.issuedAt ?? 0)) return true;
      relay.descriptor = descriptor;
      const verdict = this.countries.check(descriptor.country, relay.observedAddress);
      if (verdict.mismatch && relay.country !== verdict.country) {
        this.metrics.countryMismatches.inc();
        this.log.warn(
          { relay: relay.peerId, claimed: verdict.claimed, observed: verdict.observed, address: relay.observedAddress },
          'relay claims another country than GeoIP observes: pooled under the observed one',
        );
      }
      relay.country = verdict.country;
    } catch (err) {
      this.log.debug({ relay: relay.peerId, err: (err as Error).message }, 'descriptor fetch failed');
    }
    return relay.descriptor != null;
  }
}

/** Runs `task` for every item, at most `limit` at a time. */
async function eachLimited<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await task(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
