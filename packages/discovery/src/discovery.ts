import type { PeerInfo, PrivateKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { encodeDescriptor, type RelayDescriptor, verifyDescriptor } from './descriptor.ts';
import { descriptorKey, topics } from './keys.ts';
import type { DiscoveryMetrics } from './metrics.ts';
import type { MeadowNode } from './node.ts';

export type DescriptorFields = Omit<RelayDescriptor, 'peerId' | 'issuedAt' | 'expiresAt'>;

/** Meadow's use of the DHT: signed relay descriptors and provider records for relays and gateways. */
export class Discovery {
  readonly node: MeadowNode;
  private readonly privateKey: PrivateKey;
  private readonly metrics: DiscoveryMetrics;

  constructor(node: MeadowNode, privateKey: PrivateKey, metrics: DiscoveryMetrics = { observe: (_k, run) => run() }) {
    this.node = node;
    this.privateKey = privateKey;
    this.metrics = metrics;
  }

  get peerId(): string {
    return this.node.peerId.toString();
  }

  /** Signs and stores this relay's descriptor, and provides it under "all relays" and its country. */
  async publishRelay(
    fields: DescriptorFields,
    options: { ttlMs: number; signal?: AbortSignal },
  ): Promise<RelayDescriptor> {
    return this.metrics.observe('publish', async () => {
      const issuedAt = Date.now();
      const descriptor: RelayDescriptor = {
        ...fields,
        peerId: this.peerId,
        issuedAt,
        expiresAt: issuedAt + options.ttlMs,
      };
      const value = await encodeDescriptor(descriptor, this.privateKey);
      await this.node.contentRouting.put(descriptorKey(this.peerId), value, { signal: options.signal });
      await this.node.contentRouting.provide(await topics.allRelays(), { signal: options.signal });
      await this.node.contentRouting.provide(await topics.relaysIn(descriptor.country), { signal: options.signal });
      return descriptor;
    });
  }

  /** Announces this node as a gateway relays can connect to. */
  async advertiseGateway(options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.metrics.observe('advertise', async () =>
      this.node.contentRouting.provide(await topics.gateways(), options),
    );
  }

  async findGateways(options: { signal?: AbortSignal; limit?: number } = {}): Promise<PeerInfo[]> {
    return this.metrics.observe(
      'gateways',
      async () => this.collectProviders(await topics.gateways(), options),
      (g) => g.length === 0,
    );
  }

  /** Relay peer ids from provider records: all relays, or one country's. */
  async findRelayIds(options: { signal?: AbortSignal; country?: string; limit?: number } = {}): Promise<string[]> {
    return this.metrics.observe(
      'relays',
      async () => {
        const topic = options.country == null ? await topics.allRelays() : await topics.relaysIn(options.country);
        return (await this.collectProviders(topic, options)).map((p) => p.id.toString());
      },
      (ids) => ids.length === 0,
    );
  }

  /** Fetches a relay's descriptor from the DHT and verifies it here, whatever the DHT already checked. */
  async fetchDescriptor(peerId: string, options: { signal?: AbortSignal } = {}): Promise<RelayDescriptor> {
    return this.metrics.observe('descriptor', async () => {
      peerIdFromString(peerId);
      const key = descriptorKey(peerId);
      const value = await this.node.contentRouting.get(key, { signal: options.signal });
      return verifyDescriptor(key, value);
    });
  }

  private async collectProviders(
    topic: Awaited<ReturnType<typeof topics.gateways>>,
    options: { signal?: AbortSignal; limit?: number },
  ): Promise<PeerInfo[]> {
    const found = new Map<string, PeerInfo>();
    const limit = options.limit ?? 1000;
    for await (const provider of this.node.contentRouting.findProviders(topic, { signal: options.signal })) {
      const id = provider.id.toString();
      if (id === this.peerId) continue;
      const known = found.get(id);
      if (known == null || provider.multiaddrs.length > known.multiaddrs.length) found.set(id, provider);
      if (found.size >= limit) break;
    }
    return [...found.values()];
  }
}
