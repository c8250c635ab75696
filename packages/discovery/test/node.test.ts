import { generateKeyPair } from '@libp2p/crypto/keys';
import { afterEach, describe, expect, it } from 'vitest';
import { createMeadowNode, type MeadowNode } from '../src/node.ts';

const started: MeadowNode[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((n) => n.stop()));
});

async function node(listen: string[], allowPrivateAddresses: boolean): Promise<MeadowNode> {
  const created = await createMeadowNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen,
    dhtMode: listen.length > 0 ? 'server' : 'client',
    allowPrivateAddresses,
    agentVersion: 'test/node',
  });
  started.push(created);
  return created;
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

  it('keeps libp2p per-host inbound limits on real networks (5 new connections a second)', async () => {
    expect(await burstOfDials(false, 12)).toBeLessThan(12);
  });
});
