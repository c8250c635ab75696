import type { PeerInfo, PrivateKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { encodeDescriptor, MAX_DESCRIPTOR_BYTES, type RelayDescriptor, verifyDescriptor } from './descriptor.ts';
import { DESCRIPTOR_PROTOCOL, descriptorKey, topics } from './keys.ts';
import type { DiscoveryMetrics } from './metrics.ts';
import type { MeadowNode } from './node.ts';
import { readToEnd } from './read-to-end.ts';

export type DescriptorFields = Omit<RelayDescriptor, 'peerId' | 'issuedAt' | 'expiresAt'>;

/** Meadow's use of the DHT: signed relay descriptors and provider records for relays and gateways. */
export class Discovery {
  readonly node: MeadowNode;
  private readonly privateKey: PrivateKey;
  private readonly metrics: DiscoveryMetrics;
  private ownRecord: Uint8Array | undefined;

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
      // Linked gateways can have it straight away, while the DHT put is still travelling.
      this.ownRecord = value;
      // Published only when DHT servers took it: a query with no peers to ask "succeeds" having stored
      // the record nowhere but here, and the relay then stayed invisible until its next republish.
      const dht = this.node.services.dht;
      const signal = options.signal;
      await reached(dht.put(descriptorKey(this.peerId), value, { signal }), 'PUT_VALUE', 'the descriptor');
      await reached(dht.provide(await topics.allRelays(), { signal }), 'ADD_PROVIDER', 'the all-relays record');
      const inCountry = await topics.relaysIn(descriptor.country);
      await reached(dht.provide(inCountry, { signal }), 'ADD_PROVIDER', 'the country record');
      return descriptor;
    });
  }

  /**
   * Announces this node as a gateway relays can connect to. Returns how many other DHT servers
   * stored the record: 0 when this node knew none yet (the DHT then keeps the record only here, and
   * relays find this gateway only while it answers them itself).
   */
  async advertiseGateway(options: { signal?: AbortSignal } = {}): Promise<number> {
    return this.metrics.observe('advertise', async () =>
      acknowledgements(this.node.services.dht.provide(await topics.gateways(), options), 'ADD_PROVIDER'),
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

  /** Answers DESCRIPTOR_PROTOCOL requests with this relay's latest published descriptor record. */
  async serveOwnDescriptor(): Promise<void> {
    await this.node.handle(
      DESCRIPTOR_PROTOCOL,
      (stream) => {
        if (this.ownRecord == null) {
          stream.abort(new Error('no descriptor published yet'));
          return;
        }
        stream.send(this.ownRecord);
        void stream.close().catch(() => {});
      },
      { maxInboundStreams: 4 },
    );
  }

  /**
   * Asks a connected relay for its descriptor directly. The record is verified exactly as one from
   * the DHT — signed by the key inside the peer id, not expired, not future-dated — so the relay's
   * word is not trusted, only its signature: the DHT is how records travel, not what makes them valid.
   */
  async fetchDescriptorFrom(peerId: string, options: { signal?: AbortSignal } = {}): Promise<RelayDescriptor> {
    return this.metrics.observe('descriptor_direct', async () => {
      const id = peerIdFromString(peerId);
      if (this.node.getConnections(id).length === 0) throw new Error(`not connected to ${peerId}`);
      const stream = await this.node.dialProtocol(id, DESCRIPTOR_PROTOCOL, { signal: options.signal });
      // Read the whole answer before closing our side. libp2p 3 hands bytes that arrived with the
      // protocol negotiation to the reader a timer tick later, and drops them if by then both sides
      // have closed: the relay answers and closes at once, so closing first lost the record.
      try {
        return verifyDescriptor(descriptorKey(peerId), await readToEnd(stream, MAX_DESCRIPTOR_BYTES, options.signal));
      } finally {
        await stream.close().catch(() => {});
      }
    });
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

/** Drains a DHT put or provide; throws unless at least one server acknowledged `messageName`. */
async function reached(
  events: AsyncIterable<{ name: string; messageName?: string }>,
  messageName: 'PUT_VALUE' | 'ADD_PROVIDER',
  what: string,
): Promise<void> {
  if ((await acknowledgements(events, messageName)) === 0) throw new Error(`${what} reached no DHT server yet`);
}

/** How many DHT servers answered a put or provide query's store message. */
async function acknowledgements(
  events: AsyncIterable<{ name: string; messageName?: string }>,
  messageName: 'PUT_VALUE' | 'ADD_PROVIDER',
): Promise<number> {
  let acknowledged = 0;
  for await (const event of events) {
    if (event.name === 'PEER_RESPONSE' && event.messageName === messageName) acknowledged++;
  }
  return acknowledged;
}
