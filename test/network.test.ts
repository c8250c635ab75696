import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalNetwork, startLocalNetwork } from '@meadow/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl, getJson, socksConnect, waitFor } from './harness.ts';

interface GatewayStatus {
  activeTunnels: number;
  relays: Array<{ peerId: string; routable: boolean; country: string | null; activeTunnels: number }>;
}
interface RelayStatus {
  peerId: string;
  activeTunnels: number;
  gateways: Array<{ peerId: string }>;
  meter: { total: { tunnels: number; bytesToTarget: number; bytesFromTarget: number } };
}
type Usage = { customers: Record<string, { tunnels: number; bytesToTarget: number; bytesFromTarget: number }> };

let net: LocalNetwork;
let dir: string;
let user: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-e2e-'));
  net = await startLocalNetwork({ dir, relays: 3, countries: ['DE', 'FR', 'NL'] });
  await net.waitForRoutableRelays(3, 60_000);
  user = `${net.customer.name}:${net.customer.apiKey}`;
});

afterAll(async () => {
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function noTunnelsLeft(): Promise<void> {
  await waitFor(
    async () => {
      const gw = await getJson<GatewayStatus>(`${net.gateway.adminUrl}/status`);
      const relays = await Promise.all(net.relays.map((r) => getJson<RelayStatus>(`${r.statusUrl}/status`)));
      return (
        gw.activeTunnels === 0 &&
        gw.relays.every((r) => r.activeTunnels === 0) &&
        relays.every((r) => r.activeTunnels === 0)
      );
    },
    10_000,
    'every tunnel closed at gateway and relays',
  );
}

describe('a local Meadow network of real processes', () => {
  it('routes through relays the gateway found in the DHT, each linked by the relay dialling out', async () => {
    const gw = await getJson<GatewayStatus>(`${net.gateway.adminUrl}/status`);
    expect(gw.relays.map((r) => r.peerId).sort()).toEqual(net.relays.map((r) => r.peerId).sort());
    // Countries come from each relay's signed descriptor, fetched from the DHT.
    for (const relay of net.relays)
      expect(gw.relays.find((r) => r.peerId === relay.peerId)?.country).toBe(relay.country);
    for (const relay of net.relays) {
      const status = await getJson<RelayStatus>(`${relay.statusUrl}/status`);
      expect(status.gateways.map((g) => g.peerId)).toEqual([net.gateway.peerId]);
    }
  });

  const egress = (): string[] => net.relays.map((r) => r.egressAddress);

  it('curl --socks5-hostname fetches the origin, which sees a relay address, not the gateway', async () => {
    const res = await curl([
      '--socks5-hostname',
      `127.0.0.1:${net.gateway.socks.port}`,
      '--proxy-user',
      user,
      net.origin.url,
    ]);
    expect(res.status).toBe(200);
    expect(egress()).toContain(JSON.parse(res.body).youAre);
  });

  it('curl -x (absolute-URI forwarding) fetches the origin through a relay', async () => {
    const res = await curl(['-x', `http://127.0.0.1:${net.gateway.http.port}`, '--proxy-user', user, net.origin.url]);
    expect(res.status).toBe(200);
    expect(egress()).toContain(JSON.parse(res.body).youAre);
  });

  it('curl -p -x (CONNECT) fetches the origin through a relay', async () => {
    const res = await curl([
      '-p',
      '-x',
      `http://127.0.0.1:${net.gateway.http.port}`,
      '--proxy-user',
      user,
      net.origin.url,
    ]);
    expect(res.status).toBe(200);
    expect(egress()).toContain(JSON.parse(res.body).youAre);
    await noTunnelsLeft();
  });

  it('a relay resolves hostnames itself: localhost is refused like 127.0.0.1, and nothing connects', async () => {
    const forbidden = createServer((socket) => socket.destroy());
    let connections = 0;
    forbidden.on('connection', () => connections++);
    forbidden.listen(0, '127.0.0.1');
    await once(forbidden, 'listening');
    const port = (forbidden.address() as AddressInfo).port;
    try {
      const viaHttp = await curl([
        '-x',
        `http://127.0.0.1:${net.gateway.http.port}`,
        '--proxy-user',
        user,
        `http://127.0.0.1:${port}/`,
      ]);
      expect(viaHttp.status).toBe(403);
      expect(viaHttp.headers).toMatch(/proxy-status: meadow; error=destination_ip_prohibited/i);
      const viaConnect = await curl([
        '-p',
        '-x',
        `http://127.0.0.1:${net.gateway.http.port}`,
        '--proxy-user',
        user,
        `http://localhost:${port}/`,
      ]);
      expect(viaConnect.code).not.toBe(0);
      expect(viaConnect.headers).toMatch(/HTTP\/1\.1 403/);
      const viaSocks = await socksConnect(
        net.gateway.socks,
        { username: net.customer.name, password: net.customer.apiKey },
        'localhost',
        port,
      ).catch((err: Error) => err);
      expect(viaSocks).toBeInstanceOf(Error);
      expect(String(viaSocks)).toMatch(/Not allowed|0x02|rejected/i);
      expect(connections).toBe(0);
    } finally {
      forbidden.close();
    }
  });

  it('rejects wrong credentials with 407 and Proxy-Authenticate', async () => {
    const res = await curl([
      '-x',
      `http://127.0.0.1:${net.gateway.http.port}`,
      '--proxy-user',
      'demo:wrong',
      net.origin.url,
    ]);
    expect(res.status).toBe(407);
    expect(res.headers).toMatch(/proxy-authenticate: Basic realm="meadow"/i);
  });

  it('counts every payload byte exactly once, and gateway and relay agree', async () => {
    const before = await getJson<Usage>(`${net.gateway.adminUrl}/usage`);
    const relaysBefore = await Promise.all(net.relays.map((r) => getJson<RelayStatus>(`${r.statusUrl}/status`)));
    const socket = await socksConnect(
      net.gateway.socks,
      { username: net.customer.name, password: net.customer.apiKey },
      '127.0.0.1',
      net.origin.port,
    );
    const tenMiB = 10 * 1024 * 1024;
    let received = 0;
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.byteLength;
      if (text.length < 4096) text += chunk.subarray(0, 512).toString('latin1');
    });
    const upload = `POST /upload HTTP/1.1\r\nHost: origin\r\nContent-Length: ${tenMiB}\r\n\r\n`;
    const download = `GET /bytes/${tenMiB} HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n`;
    socket.write(upload);
    socket.write(Buffer.alloc(tenMiB, 7));
    // No half-close here: node's http server (the origin) answers a client FIN by closing.
    socket.write(download);
    await once(socket, 'close');
    const sent = Buffer.byteLength(upload) + tenMiB + Buffer.byteLength(download);
    expect(received).toBeGreaterThan(tenMiB);
    expect(text).toContain('"bytes":10485760');
    await noTunnelsLeft();
    const after = await getJson<Usage>(`${net.gateway.adminUrl}/usage`);
    const relaysAfter = await Promise.all(net.relays.map((r) => getJson<RelayStatus>(`${r.statusUrl}/status`)));
    const gwUp = (after.customers.demo?.bytesToTarget ?? 0) - (before.customers.demo?.bytesToTarget ?? 0);
    const gwDown = (after.customers.demo?.bytesFromTarget ?? 0) - (before.customers.demo?.bytesFromTarget ?? 0);
    const relayUp = relaysAfter.reduce(
      (sum, r, i) => sum + r.meter.total.bytesToTarget - (relaysBefore[i]?.meter.total.bytesToTarget ?? 0),
      0,
    );
    const relayDown = relaysAfter.reduce(
      (sum, r, i) => sum + r.meter.total.bytesFromTarget - (relaysBefore[i]?.meter.total.bytesFromTarget ?? 0),
      0,
    );
    expect({ gwUp, gwDown, relayUp, relayDown }).toEqual({
      gwUp: sent,
      gwDown: received,
      relayUp: sent,
      relayDown: received,
    });
  });
});
