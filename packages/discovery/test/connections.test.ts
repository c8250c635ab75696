import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectionsTo, createDiscovery, type DiscoveryHandle, openConnectionTo } from '../src/index.ts';

const nodes: DiscoveryHandle[] = [];
const dirs: string[] = [];

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function node(name: string): Promise<DiscoveryHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'meadow-connections-'));
  dirs.push(dir);
  const handle = await createDiscovery({
    identityPath: join(dir, `${name}.key`),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: [],
    dhtMode: 'server',
    allowPrivateAddresses: true,
    agentVersion: `test/${name}`,
  });
  nodes.push(handle);
  return handle;
}

describe('connections to one peer', () => {
  it('finds the connection to a peer by its id, as a string or a PeerId, and nothing for others', async () => {
    const [a, b, c] = [await node('a'), await node('b'), await node('c')];
    await a.node.dial(b.node.getMultiaddrs()[0] as Parameters<typeof a.node.dial>[0]);
    const byString = connectionsTo(a.node, b.node.peerId.toString());
    expect(byString).toHaveLength(1);
    expect(byString[0]?.remotePeer.equals(b.node.peerId)).toBe(true);
    expect(connectionsTo(a.node, b.node.peerId)).toEqual(byString);
    expect(openConnectionTo(a.node, b.node.peerId.toString())).toBe(byString[0]);
    expect(connectionsTo(a.node, c.node.peerId.toString())).toEqual([]);
    expect(connectionsTo(a.node, 'not a peer id')).toEqual([]);

    await byString[0]?.close();
    expect(openConnectionTo(a.node, b.node.peerId.toString())).toBeUndefined();
  });
});
