import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { createDiscovery, type DiscoveryHandle } from '@meadow/discovery';
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noGatewayAnswered } from '../src/commands/relay-doctor.ts';

// The doctor's verdict on advertised gateways that do not answer, from the errors a real libp2p
// dial gives: a port nobody listens on, and a machine that accepts TCP but never speaks (hung).

let dir: string;
let handle: DiscoveryHandle;
let silent: Server;
const held: Socket[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-doctor-unit-'));
  handle = await createDiscovery({
    identityPath: join(dir, 'doctor.key'),
    listen: [],
    bootstrap: [],
    onBootstrapError: () => {},
    dhtMode: 'client',
    allowPrivateAddresses: true,
    agentVersion: 'meadow-doctor-test',
  });
  silent = createServer((socket) => held.push(socket.on('error', () => {})));
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
});

afterAll(async () => {
  for (const socket of held) socket.destroy();
  silent?.close();
  await handle?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function pingFailure(port: number): Promise<unknown> {
  const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
  const address = multiaddr(`/ip4/127.0.0.1/tcp/${port}/p2p/${peer.toString()}`);
  return handle.node.services.ping.ping(address, { signal: AbortSignal.timeout(1_500) }).then(
    () => expect.unreachable('the ping answered'),
    (err: unknown) => err,
  );
}

async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

describe('relay doctor: gateways that do not answer', () => {
  it('says nothing needs fixing when every gateway refuses (it is not running)', async () => {
    const refused = await pingFailure(await closedPort());
    const verdict = noGatewayAnswered(2, [refused, refused]);
    expect(verdict.detail).toBe('2 advertised, none answered (connection refused)');
    expect(verdict.fix).toContain('nothing to fix here');
  });

  it('points at a firewall or a hung gateway when a dial gets no answer', async () => {
    const refused = await pingFailure(await closedPort());
    const hung = await pingFailure((silent.address() as AddressInfo).port);
    const verdict = noGatewayAnswered(2, [refused, hung]);
    expect(verdict.detail).toBe('2 advertised, none answered (connection refused; no answer)');
    expect(verdict.fix).toContain('a firewall may block');
    expect(verdict.fix).not.toContain('nothing to fix');
  });
});
