import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeDescriptor, MAX_DESCRIPTOR_BYTES } from '../src/descriptor.ts';
import {
  createDiscovery,
  DESCRIPTOR_PROTOCOL,
  type DescriptorFields,
  DHT_PROTOCOL,
  type DiscoveryHandle,
} from '../src/index.ts';

let dir: string;
const nodes: DiscoveryHandle[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-dht-'));
});

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await rm(dir, { recursive: true, force: true });
});

async function node(name: string, bootstrap: string[], listen = ['/ip4/127.0.0.1/tcp/0']): Promise<DiscoveryHandle> {
  const handle = await createDiscovery({
    identityPath: join(dir, `${name}.key`),
    listen,
    bootstrap,
    dhtMode: listen.length > 0 ? 'server' : 'client',
    allowPrivateAddresses: true,
    agentVersion: `test/${name}`,
  });
  nodes.push(handle);
  return handle;
}

/** The multiaddr other nodes bootstrap from: the node's listen address with its peer id. */
function dialAddress(handle: DiscoveryHandle): string {
  return handle.node
    .getMultiaddrs()
    .map(String)
    .find((a) => a.includes('/p2p/')) as string;
}

function descriptorFields(country: string): DescriptorFields {
  return {
    addrs: [],
    country,
    capacityBytesPerSecond: 1,
    state: 'serving',
    remainingBytes: null,
    maxTunnels: 1,
    rejectedPorts: [],
    softwareVersion: 't',
    payoutAddress: 'p',
  };
}

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await fn();
      if (ok(value)) return value;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('the private Meadow DHT', () => {
  it('publishes signed relay descriptors and gateway/relay provider records that other nodes find', async () => {
    const bootstrap = await node('bootstrap', []);
    const addr = dialAddress(bootstrap);
    const gateway = await node('gateway', [addr]);
    const relay = await node('relay', [addr], ['/ip4/127.0.0.2/tcp/0']);
    expect(bootstrap.node.getProtocols()).toContain(DHT_PROTOCOL);
    expect(bootstrap.node.getProtocols()).not.toContain('/ipfs/kad/1.0.0');
    expect((await stat(join(dir, 'relay.key'))).mode & 0o777).toBe(0o600);

    // Once the gateway knows the other DHT servers (the bootstrap node, and the relay, which
    // listens), the record is stored there, and the gateway counts each that acknowledged it.
    const stored = await eventually(
      () => gateway.discovery.advertiseGateway({ signal: AbortSignal.timeout(5_000) }),
      (n) => n > 0,
    );
    expect(stored).toBeGreaterThanOrEqual(1);
    expect(stored).toBeLessThanOrEqual(2);
    await eventually(
      () => relay.discovery.publishRelay(descriptorFields('NL'), { ttlMs: 60_000, signal: AbortSignal.timeout(5_000) }),
      () => true,
    );
    const gateways = await eventually(
      () => relay.discovery.findGateways({ signal: AbortSignal.timeout(5_000) }),
      (g) => g.length > 0,
    );
    expect(gateways.map((g) => g.id.toString())).toEqual([gateway.node.peerId.toString()]);
    const inNl = await eventually(
      () => gateway.discovery.findRelayIds({ country: 'NL', signal: AbortSignal.timeout(5_000) }),
      (r) => r.length > 0,
    );
    expect(inNl).toEqual([relay.node.peerId.toString()]);
    expect(await gateway.discovery.findRelayIds({ country: 'DE', signal: AbortSignal.timeout(5_000) })).toEqual([]);
    const descriptor = await gateway.discovery.fetchDescriptor(relay.node.peerId.toString(), {
      signal: AbortSignal.timeout(5_000),
    });
    expect(descriptor.country).toBe('NL');
  });

  it('says when a gateway advertisement reached no other DHT server', async () => {
    const alone = await node('lonely-gateway', []);
    expect(await alone.discovery.advertiseGateway({ signal: AbortSignal.timeout(5_000) })).toBe(0);
  });

  it('takes a connected relay’s descriptor from the relay itself, checked like a DHT record', async () => {
    const gateway = await node('direct-gateway', []);
    const relay = await node('direct-relay', [], ['/ip4/127.0.0.3/tcp/0']);
    const liar = await node('direct-liar', [], ['/ip4/127.0.0.4/tcp/0']);
    const relayId = relay.node.peerId.toString();
    await relay.discovery.serveOwnDescriptor();
    // No DHT server to take it: not published (the relay retries), yet served directly already.
    await expect(
      relay.discovery.publishRelay(descriptorFields('FR'), { ttlMs: 60_000, signal: AbortSignal.timeout(2_000) }),
    ).rejects.toThrow(/the descriptor reached no DHT server/);
    await gateway.node.dial(relay.node.getMultiaddrs()[0] as never);
    const descriptor = await gateway.discovery.fetchDescriptorFrom(relayId, { signal: AbortSignal.timeout(5_000) });
    expect(descriptor).toMatchObject({ peerId: relayId, country: 'FR' });

    // A peer that hands over someone else's record, or too much, is refused: its word is not trusted.
    const forged = await encodeDescriptor({ ...descriptor }, relay.privateKey);
    let answer: Uint8Array = forged;
    await liar.node.handle(DESCRIPTOR_PROTOCOL, (stream) => {
      stream.send(answer);
      void stream.close();
    });
    await gateway.node.dial(liar.node.getMultiaddrs()[0] as never);
    const liarId = liar.node.peerId.toString();
    await expect(gateway.discovery.fetchDescriptorFrom(liarId, { signal: AbortSignal.timeout(5_000) })).rejects.toThrow(
      /key|signer|peer/i,
    );
    answer = new Uint8Array(MAX_DESCRIPTOR_BYTES + 1);
    await expect(gateway.discovery.fetchDescriptorFrom(liarId, { signal: AbortSignal.timeout(5_000) })).rejects.toThrow(
      /more than/,
    );
    await expect(
      gateway.discovery.fetchDescriptorFrom('12D3KooWNPFa9ZLJPFJkpjxdFp4GVeL7gkQdZqFK1F1zYchkDUBV', {
        signal: AbortSignal.timeout(5_000),
      }),
    ).rejects.toThrow(/not connected/);
  });

  it('keeps a node’s identity across restarts', async () => {
    const first = await node('stable', []);
    const id = first.node.peerId.toString();
    await first.stop();
    nodes.splice(nodes.indexOf(first), 1);
    const second = await node('stable', []);
    expect(second.node.peerId.toString()).toBe(id);
    expect(second.identityCreated).toBe(false);
  });

  it('still finds live gateways hours after another one died (its provider record outlives its peer record)', async () => {
    const bootstrap = await node('expiry-bootstrap', []);
    const addr = dialAddress(bootstrap);
    const live = await node('expiry-live-gateway', [addr]);
    const gone = await node('expiry-gone-gateway', [addr]);
    // Advertised once the gateways know the bootstrap node as a DHT server, so the records are
    // stored there and not only at the gateways themselves.
    await new Promise((r) => setTimeout(r, 2_000));
    for (const gateway of [live, gone])
      await eventually(
        () => gateway.discovery.advertiseGateway({ signal: AbortSignal.timeout(5_000) }),
        () => true,
      );
    const before = await node('expiry-check', [addr], []);
    await eventually(
      () => before.discovery.findGateways({ signal: AbortSignal.timeout(5_000) }),
      (g) => g.length === 2,
    );
    await gone.stop();
    // libp2p's peer store forgets a peer six hours after it was last seen (maxPeerAge), while the
    // DHT keeps its provider records for 48 hours: every DHT server that holds the dead gateway's
    // record forgets its peer record, deleted here as six hours would.
    for (const server of [bootstrap, live]) await server.node.peerStore.delete(gone.node.peerId);

    const relay = await node('expiry-relay', [addr], []);
    const found = await eventually(
      () => relay.discovery.findGateways({ signal: AbortSignal.timeout(5_000) }),
      (g) => g.length > 0,
    );
    expect(found.map((g) => g.id.toString())).toEqual([live.node.peerId.toString()]);
  });
});
