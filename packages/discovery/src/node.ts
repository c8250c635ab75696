import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify } from '@libp2p/identify';
import type { Libp2p, PrivateKey } from '@libp2p/interface';
import { type KadDHT, kadDHT, passthroughMapper, removePrivateAddressesMapper } from '@libp2p/kad-dht';
import { type Ping, ping } from '@libp2p/ping';
import { prometheusMetrics } from '@libp2p/prometheus-metrics';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import type { Registry } from 'prom-client';
import { connectionsTo } from './connections.ts';
import { selectNewestDescriptor, validateDescriptorRecord } from './descriptor.ts';
import { DESCRIPTOR_NAMESPACE, DHT_PROTOCOL } from './keys.ts';
import { meadowNoiseCrypto } from './noise-crypto.ts';

export interface MeadowNodeInit {
  privateKey: PrivateKey;
  /** Multiaddrs to listen on; relays may listen on none (they only dial out). */
  listen: string[];
  /** Multiaddrs to announce instead of the listen addresses, e.g. behind port forwarding. */
  announce?: string[];
  /**
   * DHT mode: 'server' answers queries (bootstrap nodes, gateways, reachable relays);
   * 'client' only asks (relays behind NAT).
   */
  dhtMode: 'server' | 'client';
  /** Keep loopback and private addresses in DHT answers: for local networks and tests only. */
  allowPrivateAddresses: boolean;
  /** Incoming streams allowed per protocol per connection. */
  maxInboundStreams?: number;
  agentVersion: string;
  /** The process's own registry: libp2p's metrics are added to it (never to the global one). */
  registry?: Registry;
}

const LOOPBACK_NETS = ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128'];

export type MeadowNode = Libp2p<{ dht: KadDHT; identify: unknown; ping: Ping }>;

/** A libp2p host: TCP + Noise + Yamux, identify, ping, and the private Meadow DHT. */
export async function createMeadowNode(init: MeadowNodeInit): Promise<MeadowNode> {
  return createLibp2p({
    privateKey: init.privateKey,
    nodeInfo: { userAgent: init.agentVersion },
    ...(init.registry == null
      ? {}
      : {
          // preserveExistingMetrics: otherwise the module clears the registry it is given.
          metrics: prometheusMetrics({
            registry: init.registry,
            preserveExistingMetrics: true,
            collectDefaultMetrics: false,
          }),
        }),
    addresses: {
      listen: init.listen,
      announce: init.announce ?? [],
    },
    transports: [tcp()],
    connectionEncrypters: [noise({ crypto: meadowNoiseCrypto })],
    streamMuxers: [yamux()],
    // libp2p pings every connection every 10 s and by default aborts it when a reply is late. On a
    // household's slow upload, filled by tunnels, replies wait seconds behind the bytes the link
    // carries, and the abort ended every tunnel of a relay that was working. Liveness is judged by
    // our own checks instead, which count bytes arriving as proof of life (LinkWatch, the pool's
    // health check); the monitor still measures round trips.
    connectionMonitor: { abortConnectionOnPingFailure: false },
    connectionManager: {
      maxConnections: 1024,
      // A local network runs every node on this machine, all connecting from loopback: libp2p's
      // per-host limits (5 new inbound connections a second, 10 upgrading at once) would throttle
      // it as if it were one host. Real networks keep the limits.
      ...(init.allowPrivateAddresses ? { allow: LOOPBACK_NETS } : {}),
    },
    services: {
      identify: identify(),
      // libp2p allows one outbound ping stream per connection: a health check and a stall probe that
      // overlap, or a timed-out ping whose stream is still closing, failed the next ping with "too
      // many outbound protocol streams", and a busy but healthy link was cut as stalled.
      ping: ping({ maxOutboundStreams: 4, maxInboundStreams: 4 }),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: init.dhtMode === 'client',
        peerInfoMapper: init.allowPrivateAddresses ? passthroughMapper : removePrivateAddressesMapper,
        validators: { [DESCRIPTOR_NAMESPACE]: validateDescriptorRecord },
        selectors: { [DESCRIPTOR_NAMESPACE]: selectNewestDescriptor },
        allowQueryWithZeroPeers: true,
        initialQuerySelfInterval: 500,
      }),
    },
  });
}

/**
 * Keeps the node connected to at least one bootstrap peer: dials all of them at start and
 * again whenever none is connected. Returns a stop function.
 */
export function keepBootstrapped(
  node: MeadowNode,
  bootstrap: string[],
  options: { intervalMs?: number; onError?: (addr: string, err: Error) => void } = {},
): () => void {
  const addrs = bootstrap.map((a) => multiaddr(a));
  // A bootstrap node that stays down fails every 5 s: report it when its error changes, and at
  // most once a minute while it stays the same, so the log stays readable.
  const reported = new Map<string, { message: string; at: number }>();
  const report = (addr: string, err: Error): void => {
    const last = reported.get(addr);
    if (last?.message === err.message && Date.now() - last.at < 60_000) return;
    reported.set(addr, { message: err.message, at: Date.now() });
    options.onError?.(addr, err);
  };
  let stopped = false;
  let running = false;
  const tick = async (): Promise<void> => {
    if (stopped || running) return;
    running = true;
    try {
      await Promise.all(
        addrs.map(async (addr) => {
          const peer = addr.getComponents().find((c) => c.name === 'p2p')?.value;
          if (peer != null && connectionsTo(node, peer).length > 0) return;
          try {
            await node.dial(addr, { signal: AbortSignal.timeout(5_000) });
            reported.delete(addr.toString());
          } catch (err) {
            report(addr.toString(), err as Error);
          }
        }),
      );
    } finally {
      running = false;
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), options.intervalMs ?? 5_000);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
