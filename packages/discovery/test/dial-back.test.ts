import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIAL_BACK_PROTOCOL } from '@meadow/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askDialBack, createDiscovery, type DiscoveryHandle, serveDialBack } from '../src/index.ts';

const nodes: DiscoveryHandle[] = [];
const dirs: string[] = [];
let server: DiscoveryHandle;
let asker: DiscoveryHandle;
let serverAddress: string;
let bystander: Server;

async function node(name: string, host = '127.0.0.1'): Promise<DiscoveryHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'meadow-dial-back-'));
  dirs.push(dir);
  const handle = await createDiscovery({
    identityPath: join(dir, `${name}.key`),
    listen: [`/ip4/${host}/tcp/0`],
    bootstrap: [],
    dhtMode: 'server',
    allowPrivateAddresses: true,
    agentVersion: `test/${name}`,
  });
  nodes.push(handle);
  return handle;
}

beforeAll(async () => {
  server = await node('bootstrap');
  await serveDialBack(server.node);
  serverAddress = `${server.node.getMultiaddrs()[0]}`;
  asker = await node('gateway');
  // Something on another loopback address: a host that is not the asker's.
  bystander = createServer((s) => s.destroy()).listen(0, '127.0.0.2');
});

afterAll(async () => {
  bystander?.close();
  await Promise.all(nodes.map((n) => n.stop()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** Sends `body` as the request, as a client of any make could, and parses the answer. */
async function raw(body: string): Promise<unknown> {
  const stream = await asker.node.dialProtocol(server.node.getMultiaddrs()[0] as never, DIAL_BACK_PROTOCOL);
  stream.send(new TextEncoder().encode(body));
  await stream.close();
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk instanceof Uint8Array ? chunk : chunk.subarray());
  return JSON.parse(Buffer.concat(chunks).toString());
}

const ask = (addresses: string[]) => askDialBack(asker.node, serverAddress, addresses, AbortSignal.timeout(20_000));

describe('dial-back', () => {
  it("dials the asker's own addresses and names who answers, a refused port, and itself", async () => {
    const own = `${asker.node.getMultiaddrs()[0]}`;
    const bare = own.split('/p2p/')[0] as string;
    const closed = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => closed.once('listening', resolve));
    const closedPort = (closed.address() as { port: number }).port;
    closed.close();
    const serverBare = serverAddress.split('/p2p/')[0] as string;
    const answer = await ask([own, `/ip4/127.0.0.1/tcp/${closedPort}`, serverBare]);
    expect(answer).toEqual({
      observed: '127.0.0.1',
      results: [
        { address: own, peer: asker.node.peerId.toString(), ms: expect.any(Number) },
        { address: `/ip4/127.0.0.1/tcp/${closedPort}`, error: 'connection refused (nothing listens there)' },
        { address: serverBare, peer: server.node.peerId.toString(), ms: 0 },
      ],
    });
    expect(bare).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+$/);
  });

  it('never dials another host than the one the request came from, by address or by name', async () => {
    const port = (bystander.address() as { port: number }).port;
    const answer = await ask([`/ip4/127.0.0.2/tcp/${port}`, '/dns4/localhost.invalid/tcp/80', '/ip4/127.0.0.1/udp/53']);
    expect(answer).toEqual({
      observed: '127.0.0.1',
      results: [
        {
          address: `/ip4/127.0.0.2/tcp/${port}`,
          error: 'not dialled: only the address the request came from (127.0.0.1) is',
        },
        { address: '/dns4/localhost.invalid/tcp/80', error: 'localhost.invalid does not resolve here' },
        { address: '/ip4/127.0.0.1/udp/53', error: 'only /ip4, /ip6 or /dns addresses over /tcp are dialled back' },
      ],
    });
  });

  it('dials a name only when it resolves to the asker', async () => {
    const own = `${asker.node.getMultiaddrs()[0]}`.split('/p2p/')[0] as string;
    const port = own.split('/tcp/')[1];
    const answer = await ask([`/dns4/localhost/tcp/${port}`]);
    expect(answer).toEqual({
      observed: '127.0.0.1',
      results: [{ address: `/dns4/localhost/tcp/${port}`, peer: asker.node.peerId.toString(), ms: expect.any(Number) }],
    });
  });

  it('refuses a request that is not a list of one to eight addresses, and says why', async () => {
    expect(await ask([])).toEqual({ refused: 'ask for 1 to 8 addresses' });
    const nine = Array.from({ length: 9 }, (_, i) => `/ip4/127.0.0.1/tcp/${1000 + i}`);
    expect(await raw(JSON.stringify({ addresses: nine }))).toEqual({ refused: 'ask for 1 to 8 addresses' });
    expect(await raw('{"addresses": "everything"}')).toEqual({
      refused: 'the request needs "addresses", a list of multiaddrs',
    });
    expect(await raw('dial 10.0.0.1 please')).toEqual({ refused: 'the request is not JSON' });
  });

  it('answers busy when as many dial-backs as it allows are running, and counts each outcome', async () => {
    const full = await node('full-bootstrap');
    const outcomes: string[] = [];
    await serveDialBack(full.node, { maxConcurrent: 0, onRequest: (outcome) => outcomes.push(outcome) });
    const at = `${full.node.getMultiaddrs()[0]}`;
    expect(await askDialBack(asker.node, at, ['/ip4/127.0.0.1/tcp/1'], AbortSignal.timeout(5_000))).toEqual({
      refused: 'busy: other dial-backs are running; ask again in a few seconds',
    });
    expect(await askDialBack(asker.node, at, [], AbortSignal.timeout(5_000))).toEqual({
      refused: 'ask for 1 to 8 addresses',
    });
    expect(outcomes).toEqual(['busy', 'malformed']);
  });
});
