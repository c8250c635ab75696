import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Baselines, startBaselines } from '../loadtest/lib/paths.ts';
import { readToEnd } from '../loadtest/lib/scenarios.ts';
import { httpConnect, socksConnect } from './harness.ts';

// The yardsticks Meadow's load tests are judged against: each must carry a request to the origin
// and back, or a ratio to it means nothing.

let origin: Server;
let originPort: number;
let baselines: Baselines;
const hops: ChildProcess[] = [];

beforeAll(async () => {
  origin = createServer((req, res) => res.end(`origin saw ${req.url}`));
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  originPort = (origin.address() as AddressInfo).port;
  baselines = await startBaselines({ host: '127.0.0.1', port: originPort });
});

afterAll(async () => {
  await baselines?.stop();
  for (const hop of hops) hop.kill('SIGTERM');
  origin?.close();
});

async function get(socket: Socket, path: string): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  await readToEnd(socket, AbortSignal.timeout(10_000));
  return Buffer.concat(chunks).toString();
}

/** One baseline hop (a script in loadtest/lib), started as the load test starts it. */
async function hop(script: string, ...next: string[]): Promise<number> {
  const file = fileURLToPath(new URL(`../loadtest/lib/${script}`, import.meta.url));
  const child = spawn(process.execPath, [file, ...next], { stdio: ['ignore', 'pipe', 'inherit'] });
  hops.push(child);
  for await (const line of createInterface({ input: child.stdout as NonNullable<typeof child.stdout> }))
    return (JSON.parse(line) as { port: number }).port;
  throw new Error(`${script} exited before it was ready`);
}

describe('load test baselines', () => {
  it('every baseline path carries a request to the origin and its answer back', async () => {
    const names = baselines.paths.map((p) => p.name);
    expect(names).toEqual(
      expect.arrayContaining(['direct', 'pass1', 'pass2', 'pass2-connect', 'pass2-socks5', 'libp2p']),
    );
    for (const path of baselines.paths) {
      const answer = await get(await path.connect(), `/via/${path.name}`);
      expect(answer, path.name).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(answer, path.name).toContain(`origin saw /via/${path.name}`);
    }
    expect(baselines.pids['pass2-connect']).toHaveLength(2);
  });

  it('the two-hop CONNECT and SOCKS5 proxies answer success only once the far hop has reached the target', async () => {
    const far = await hop('connect-forwarder.ts');
    const near = await hop('connect-forwarder.ts', '127.0.0.1', String(far));
    const socksNear = await hop('socks-forwarder.ts', '127.0.0.1', String(far));
    const creds = { username: 'any', password: 'any' };
    const tunnel = await httpConnect({ host: '127.0.0.1', port: near }, creds, `127.0.0.1:${originPort}`);
    expect(await get(tunnel, '/through-two-hops')).toContain('origin saw /through-two-hops');

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expect(httpConnect({ host: '127.0.0.1', port: near }, creds, `127.0.0.1:${closedPort}`)).rejects.toThrow(
      /CONNECT answered 502/,
    );
    await expect(
      socksConnect({ host: '127.0.0.1', port: socksNear }, creds, '127.0.0.1', closedPort),
    ).rejects.toThrow();
    const socksTunnel = await socksConnect({ host: '127.0.0.1', port: socksNear }, creds, '127.0.0.1', originPort);
    expect(await get(socksTunnel, '/through-socks')).toContain('origin saw /through-socks');
    await expect(httpConnect({ host: '127.0.0.1', port: far }, creds, 'no-port-here')).rejects.toThrow(
      /CONNECT answered 502/,
    );
  });
});
