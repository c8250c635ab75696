import { generateKeyPair } from '@libp2p/crypto/keys';
import { CID } from 'multiformats/cid';
import { sha256 } from 'multiformats/hashes/sha2';
import { afterEach, describe, expect, it } from 'vitest';
import { createMeadowNode, type MeadowNode } from '../src/node.ts';

const started: MeadowNode[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((n) => n.stop()));
});

async function node(
  listen: string[],
  allowPrivateAddresses: boolean,
  dhtMode: 'server' | 'client' = listen.length > 0 ? 'server' : 'client',
): Promise<MeadowNode> {
  const created = await createMeadowNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen,
    dhtMode,
    allowPrivateAddresses,
    agentVersion: 'test/node',
  });
  started.push(created);
  return created;
}

async function routingTableHas(owner: MeadowNode, peer: MeadowNode): Promise<boolean> {
  const table = (owner.services.dht as unknown as { routingTable: { find(id: unknown): Promise<unknown> } })
    .routingTable;
  return (await table.find(peer.peerId)) != null;
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** How many of `count` fresh nodes, dialling at once from 127.0.0.1, get a connection. */
async function burstOfDials(allowPrivateAddresses: boolean, count: number): Promise<number> {
  const server = await node(['/ip4/127.0.0.1/tcp/0'], allowPrivateAddresses);
  const clients = await Promise.all(Array.from({ length: count }, () => node([], allowPrivateAddresses)));
  const results = await Promise.allSettled(
    clients.map((c) => c.dial(server.getMultiaddrs()[0] as never, { signal: AbortSignal.timeout(10_000) })),
  );
  return results.filter((r) => r.status === 'fulfilled').length;
}

describe('createMeadowNode', () => {
  it('lets a local network on one machine connect from loopback past the per-host inbound limits', async () => {
    expect(await burstOfDials(true, 12)).toBe(12);
  });

  it('answers overlapping pings on one connection (a health check and a stall probe at once)', async () => {
    const server = await node(['/ip4/127.0.0.1/tcp/0'], true);
    const client = await node([], true);
    await client.dial(server.getMultiaddrs()[0] as never);
    const rtts = await Promise.all([1, 2, 3].map(() => client.services.ping.ping(server.peerId)));
    expect(rtts.every((rtt) => rtt >= 0)).toBe(true);
  });

  it('keeps client-mode nodes it hears of as providers out of its routing table', async () => {
    const bootstrap = await node(['/ip4/127.0.0.1/tcp/0'], true);
    // Listening (a provider record needs an address), but a DHT client, as relays are by default.
    const client = await node(['/ip4/127.0.0.1/tcp/0'], true, 'client');
    const looker = await node(['/ip4/127.0.0.1/tcp/0'], true);
    const addr = bootstrap.getMultiaddrs()[0] as never;
    await client.dial(addr);
    await looker.dial(addr);
    await waitFor(async () => (await routingTableHas(client, bootstrap)) && (await routingTableHas(looker, bootstrap)));
    const key = CID.createV1(0x55, await sha256.digest(new TextEncoder().encode('meadow:test:topic')));
    await client.contentRouting.provide(key, { signal: AbortSignal.timeout(10_000) });
    const providers = [];
    for await (const p of looker.contentRouting.findProviders(key, { signal: AbortSignal.timeout(10_000) })) {
      providers.push(p.id.toString());
    }
    expect(providers).toEqual([client.peerId.toString()]);
    // The looker now pings the client as a routing-table candidate: it answers ping, but not the DHT.
    await waitFor(async () => looker.getConnections(client.peerId).length > 0);
    await new Promise((r) => setTimeout(r, 500));
    expect(await routingTableHas(looker, client)).toBe(false);
    expect(await routingTableHas(looker, bootstrap)).toBe(true);
  });

  it('keeps libp2p per-host inbound limits on real networks (5 new connections a second)', async () => {
    expect(await burstOfDials(false, 12)).toBeLessThan(12);
  });
});
