import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalNetwork, startLocalNetwork } from '@meadow/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl, getJson, runMeadow, socksConnect, waitForNoTunnels } from './harness.ts';
import { parsePrometheusText } from './prometheus-text.ts';
import { type DnsServer, startDnsServer } from './services/dns-server.ts';

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

let closedPort: number;
let dns: DnsServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-e2e-'));
  // A port nothing listens on, allowed as an exact test target so the relay really dials it.
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  // The relays' own DNS server: websites' names resolve there, not in this machine's hosts file.
  dns = await startDnsServer({
    'origin.meadow.test': { a: ['127.0.0.1'], aaaa: ['::1'], ttl: 300 },
    '*.dead.meadow.test': { silent: true },
  });
  net = await startLocalNetwork({
    dir,
    relays: 3,
    countries: ['DE', 'FR', 'NL'],
    extraAllowedTargets: [`127.0.0.1:${closedPort}`],
    relayConfig: { dns: { servers: [dns.address] } },
  });
  await net.waitForRoutableRelays(3, 60_000);
  user = `${net.customer.name}:${net.customer.apiKey}`;
});

afterAll(async () => {
  await net?.stop();
  await dns?.close();
  await rm(dir, { recursive: true, force: true });
});

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
  const fetchViaSocks = () =>
    curl(['--socks5-hostname', `127.0.0.1:${net.gateway.socks.port}`, '--proxy-user', user, net.origin.url]);

  it('curl --socks5-hostname fetches the origin, which sees a relay address, not the gateway', async () => {
    const res = await fetchViaSocks();
    expect(res.status).toBe(200);
    expect(egress()).toContain(JSON.parse(res.body).youAre);
  });

  it('answers a SOCKS5 greeting of zero methods with bytes behind it, and keeps serving', async () => {
    // This greeting once spun the gateway's event loop forever: one client froze every tunnel.
    const client = connect({ host: '127.0.0.1', port: net.gateway.socks.port });
    await once(client, 'connect');
    const replies: Buffer[] = [];
    client.on('data', (chunk: Buffer) => replies.push(chunk));
    client.write(Buffer.from([5, 0, 1, 2]));
    await once(client, 'close');
    expect(Buffer.concat(replies)).toEqual(Buffer.from([5, 0xff]));
    const res = await fetchViaSocks();
    expect(res.status).toBe(200);
  });

  it('serves others while a SOCKS5 client sends its handshake a byte at a time, then serves it too', async () => {
    // One byte of a greeting once spun the gateway's event loop forever, like the greeting above.
    const client = connect({ host: '127.0.0.1', port: net.gateway.socks.port, noDelay: true });
    try {
      await once(client, 'connect');
      let received = Buffer.alloc(0);
      client.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
      });
      const until = async (bytes: number): Promise<Buffer> => {
        while (received.byteLength < bytes) await once(client, 'data');
        const head = received.subarray(0, bytes);
        received = received.subarray(bytes);
        return head;
      };
      const slowly = async (bytes: number[]): Promise<void> => {
        for (const byte of bytes) {
          client.write(Buffer.from([byte]));
          await new Promise((r) => setTimeout(r, 5));
        }
      };
      client.write(Buffer.from([5]));
      expect((await fetchViaSocks()).status).toBe(200);
      await slowly([1, 2]);
      expect(await until(2)).toEqual(Buffer.from([5, 2]));
      const [name, key] = [Buffer.from(net.customer.name), Buffer.from(net.customer.apiKey)];
      await slowly([1, name.byteLength, ...name, key.byteLength, ...key]);
      expect(await until(2)).toEqual(Buffer.from([1, 0]));
      await slowly([5, 1, 0, 1, 127, 0, 0, 1, net.origin.port >> 8, net.origin.port & 0xff]);
      expect((await until(10))[1]).toBe(0);
      client.write('GET / HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n');
      await once(client, 'end');
      expect(received.toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
    } finally {
      client.destroy(); // a failed step must not leave a half-open tunnel for the next tests
    }
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
    await waitForNoTunnels(net);
  });

  it('refuses loopback targets in every address form, over every protocol, and nothing connects', async () => {
    const listeners = await Promise.all(
      ['127.0.0.1', '::1'].map(async (host) => {
        const server = createServer((socket) => socket.destroy());
        const counter = { server, host, port: 0, connections: 0 };
        server.on('connection', () => counter.connections++);
        server.listen(0, host);
        await once(server, 'listening');
        counter.port = (server.address() as AddressInfo).port;
        return counter;
      }),
    );
    const [v4, v6] = listeners as [(typeof listeners)[0], (typeof listeners)[0]];
    const proxy = `http://127.0.0.1:${net.gateway.http.port}`;
    const creds = { username: net.customer.name, password: net.customer.apiKey };
    try {
      for (const url of [
        `http://127.0.0.1:${v4.port}/`,
        `http://[::1]:${v6.port}/`,
        `http://localhost:${v4.port}/`,
        `http://2130706433:${v4.port}/`,
      ]) {
        const absolute = await curl(['-x', proxy, '--proxy-user', user, url]);
        expect(absolute.status, `absolute-URI ${url}`).toBe(403);
        expect(absolute.headers).toMatch(/proxy-status: meadow; error=destination_ip_prohibited; details="relay: /i);
        const connect = await curl(['-p', '-x', proxy, '--proxy-user', user, url]);
        expect(connect.code, `CONNECT ${url}`).not.toBe(0);
        expect(connect.headers).toMatch(/HTTP\/1\.1 403/);
      }
      // socks sends an IPv4 literal as ATYP 1, an IPv6 literal as ATYP 4 and a name as ATYP 3.
      for (const [host, port] of [
        ['127.0.0.1', v4.port],
        ['::1', v6.port],
        ['localhost', v4.port],
        ['0x7f.1', v4.port],
      ] as const) {
        const result = await socksConnect(net.gateway.socks, creds, host, port).catch((err: Error) => err);
        expect(String(result), `SOCKS5 ${host}`).toMatch(/NotAllowed/);
      }
      expect(v4.connections + v6.connections).toBe(0);
    } finally {
      for (const l of listeners) l.server.close();
    }
  });

  it('resolves names at the relay with its own DNS servers, once for many tunnels, and names a server that never answers', async () => {
    const url = `http://origin.meadow.test:${net.origin.port}/`;
    const proxy = `http://127.0.0.1:${net.gateway.http.port}`;
    for (let i = 0; i < 9; i++) {
      const res = await curl(['-p', '-x', proxy, '--proxy-user', user, url]);
      expect(res.status, `CONNECT ${i}`).toBe(200);
      expect(egress()).toContain(JSON.parse(res.body).youAre);
    }
    // Each relay asked at most once; relays bound to an IPv4 egress address never ask for AAAA.
    const asked = dns.queries.filter((q) => q.endsWith(' origin.meadow.test'));
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.length).toBeLessThanOrEqual(net.relays.length);
    expect(asked.every((q) => q.startsWith('A '))).toBe(true);
    let fromCache = 0;
    for (const relay of net.relays) {
      const families = parsePrometheusText(await (await fetch(`${relay.statusUrl}/metrics`)).text());
      const lookups = families.get('meadow_relay_dns_lookups_total')?.samples ?? [];
      fromCache += lookups.find((s) => s.labels.source === 'cache')?.value ?? 0;
    }
    expect(fromCache).toBeGreaterThanOrEqual(9 - asked.length);

    const started = performance.now();
    const dead = await curl(['-x', proxy, '--proxy-user', user, 'http://www.dead.meadow.test/']);
    expect(dead.status).toBe(502);
    expect(dead.headers).toMatch(
      /proxy-status: meadow; error=dns_error; details="target: cannot resolve www\.dead\.meadow\.test: no answer \(ETIMEOUT\)/i,
    );
    // Well inside the relay's 10 s connect deadline: the crawler hears it was DNS, not a timeout.
    expect(performance.now() - started).toBeLessThan(8_000);
  });

  it("reports the target's own failures with distinct codes and never retries them elsewhere", async () => {
    const proxy = `http://127.0.0.1:${net.gateway.http.port}`;
    const dns = await curl(['-x', proxy, '--proxy-user', user, 'http://no-such-host.invalid/']);
    expect(dns.status).toBe(502);
    expect(dns.headers).toMatch(/proxy-status: meadow; error=dns_error; details="target: /i);
    const refused = await curl(['-x', proxy, '--proxy-user', user, `http://127.0.0.1:${closedPort}/`]);
    expect(refused.status).toBe(502);
    expect(refused.headers).toMatch(/proxy-status: meadow; error=connection_refused/i);
    const viaSocks = await socksConnect(
      net.gateway.socks,
      { username: net.customer.name, password: net.customer.apiKey },
      'no-such-host.invalid',
      80,
    ).catch((err: Error) => err);
    expect(String(viaSocks)).toMatch(/HostUnreachable/);
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

  it('throttles an address after 20 failed authentications, and only that address', async () => {
    const proxy = `http://127.0.0.1:${net.gateway.http.port}`;
    // From an address of its own, so the rest of this file (from 127.0.0.1) is not throttled.
    const from = ['--interface', '127.0.0.9', '-x', proxy];
    for (let i = 0; i < 20; i++) {
      expect((await curl([...from, '--proxy-user', 'demo:wrong', net.origin.url])).status).toBe(407);
    }
    const throttled = await curl([...from, '--proxy-user', user, net.origin.url]);
    expect(throttled.status).toBe(429);
    expect(throttled.body).toMatch(/too many failed authentications from 127\.0\.0\.9/);
    const elsewhere = await curl(['-x', proxy, '--proxy-user', user, net.origin.url]);
    expect(elsewhere.status).toBe(200);
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
    await waitForNoTunnels(net);
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
  // Last: it adds a relay to the network.
  it('sends tunnels to names past a relay whose DNS servers do not answer, and that relay says why', async () => {
    const silent = await startDnsServer();
    await silent.close(); // nothing answers on its port now
    const deaf = await net.addRelay({ country: 'SE', config: { dns: { servers: [silent.address] } } });
    try {
      await net.waitForRoutableRelays(4, 60_000);
      const proxy = `http://127.0.0.1:${net.gateway.http.port}`;
      const url = `http://origin.meadow.test:${net.origin.port}/`;
      // Pinned to the deaf relay: the first unanswered queries read as the website's DNS failing;
      // once the servers have been silent for 10 s, the relay says it is its own DNS.
      let pinned = await curl([
        '-x',
        proxy,
        '--proxy-user',
        `${net.customer.name}-country-se:${net.customer.apiKey}`,
        url,
      ]);
      const deadline = Date.now() + 30_000;
      while (pinned.status !== 503 && Date.now() < deadline) {
        expect(pinned.status).toBe(502);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        pinned = await curl([
          '-x',
          proxy,
          '--proxy-user',
          `${net.customer.name}-country-se:${net.customer.apiKey}`,
          url,
        ]);
      }
      expect(pinned.status).toBe(503);
      expect(pinned.headers).toMatch(
        /proxy-status: meadow; error=destination_unavailable; details="relay: this relay's DNS servers \(127\.0\.0\.1:\d+\) have not answered since/i,
      );
      const status = await getJson<{ dns: { answering: boolean; servers: string[] } }>(`${deaf.statusUrl}/status`);
      expect(status.dns).toMatchObject({ answering: false, servers: [silent.address] });
      const page = await (await fetch(`${deaf.statusUrl}/`)).text();
      expect(page).toContain('Your DNS servers do not answer');
      const cli = await runMeadow(['relay', 'status', '--config', deaf.configPath]);
      expect(cli.stdout).toMatch(
        /^dns +127\.0\.0\.1:\d+ silent since .* \((ECONNREFUSED|ETIMEOUT)\): tunnels to names go to other relays/m,
      );
      // IP literals need no DNS: the deaf relay still carries them.
      const literal = await curl([
        '-x',
        proxy,
        '--proxy-user',
        `${net.customer.name}-country-se:${net.customer.apiKey}`,
        net.origin.url,
      ]);
      expect(literal.status).toBe(200);
      // Unpinned, every named request arrives, from another relay: the deaf one's refusal is retryable
      // and counts against its score at the gateway.
      for (let i = 0; i < 12; i++) {
        const res = await curl(['-p', '-x', proxy, '--proxy-user', user, url]);
        expect(res.status, `request ${i}`).toBe(200);
        expect(JSON.parse(res.body).youAre).not.toBe(deaf.egressAddress);
      }
    } finally {
      await deaf.service.stop();
    }
  });
  it('lets a household decline sites: another relay carries them, a session keeps its relay for the rest', async () => {
    const picky = await net.addRelay({
      country: 'CH',
      config: { dns: { servers: [dns.address] }, egress: { refuseDomains: ['Meadow.Test'] } },
    });
    try {
      await net.waitForRoutableRelays(4, 60_000);
      const proxy = `http://127.0.0.1:${net.gateway.http.port}`;
      const named = `http://origin.meadow.test:${net.origin.port}/`;
      const as = (params: string) => `${net.customer.name}${params}:${net.customer.apiKey}`;
      // The only relay in CH declines the site: nowhere else to go, so the crawler hears why.
      const declined = await curl(['-x', proxy, '--proxy-user', as('-country-ch'), named]);
      expect(declined.status).toBe(403);
      expect(declined.headers).toMatch(
        /proxy-status: meadow; error=destination_ip_prohibited; details="relay: this household does not share its connection with origin\.meadow\.test \(meadow\.test\)"/i,
      );
      // By IP address the household's names do not apply (its exit policy would).
      const bound = await curl(['-i', '-x', proxy, '--proxy-user', as('-country-ch-session-pick'), net.origin.url]);
      expect(bound.status).toBe(200);
      expect(bound.body).toMatch(/^x-meadow-session: bound/im);
      expect((await curl(['-x', proxy, '--proxy-user', as('-country-ch-session-pick'), named])).status).toBe(403);
      expect((await curl(['-x', proxy, '--proxy-user', as('-country-ch-session-pick-strict'), named])).status).toBe(
        403,
      );
      const kept = await curl(['-i', '-x', proxy, '--proxy-user', as('-country-ch-session-pick'), net.origin.url]);
      expect(kept.body).toMatch(/^x-meadow-session: kept/im);
      expect(kept.body).toContain(picky.egressAddress);
      // Anywhere: every request arrives, from the other relays.
      for (let i = 0; i < 8; i++) {
        const res = await curl(['-x', proxy, '--proxy-user', user, named]);
        expect(res.status, `request ${i}`).toBe(200);
        expect(JSON.parse(res.body).youAre).not.toBe(picky.egressAddress);
      }
      // The household sees what it keeps to itself.
      expect(await (await fetch(`${picky.statusUrl}/`)).text()).toContain(
        'Sites you keep to yourself (and every name under them): meadow.test.',
      );
      expect((await runMeadow(['relay', 'status', '--config', picky.configPath])).stdout).toMatch(
        /^declined +meadow\.test$/m,
      );
      const families = parsePrometheusText(await (await fetch(`${picky.statusUrl}/metrics`)).text());
      const refusals = families.get('meadow_relay_egress_refusals_total')?.samples ?? [];
      expect(refusals.find((s) => s.labels.reason === 'household_domain')?.value).toBeGreaterThanOrEqual(3);
    } finally {
      await picky.service.stop();
    }
  });
});
