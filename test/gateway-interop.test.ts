import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalNetwork, startLocalNetwork } from '@meadow/cli';
import { Server as ProxyChainServer } from 'proxy-chain';
import { ProxyAgent, request, Socks5ProxyAgent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl, getJson, socksConnect, waitFor, waitForNoTunnels } from './harness.ts';

let net: LocalNetwork;
let dir: string;

interface GatewayStatus {
  activeTunnels: number;
  relays: Array<{ peerId: string; routable: boolean; activeTunnels: number }>;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-interop-'));
  net = await startLocalNetwork({ dir, relays: 3, countries: ['DE', 'DE', 'FR'] });
  await net.waitForRoutableRelays(3, 60_000);
});

afterAll(async () => {
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
});

const key = () => net.customer.apiKey;
const egressOf = (body: string): string => (JSON.parse(body) as { youAre: string }).youAre;

describe('clients no one here wrote', () => {
  it('undici ProxyAgent (CONNECT and absolute-URI) and Socks5ProxyAgent fetch through relays', async () => {
    const proxyAuth = `Basic ${Buffer.from(`demo:${key()}`).toString('base64')}`;
    // undici tunnels an http: URL only when asked: without proxyTunnel it forwards it (absolute-URI).
    const connect = new ProxyAgent({
      uri: `http://127.0.0.1:${net.gateway.http.port}`,
      token: proxyAuth,
      proxyTunnel: true,
    });
    const forward = new ProxyAgent({
      uri: `http://127.0.0.1:${net.gateway.http.port}`,
      token: proxyAuth,
      proxyTunnel: false,
    });
    const socks = new Socks5ProxyAgent(`socks5://127.0.0.1:${net.gateway.socks.port}`, {
      username: 'demo',
      password: key(),
    });
    // Which of the gateway's three ways in each client really took, from its tunnel counter.
    const opened = async (protocol: string): Promise<number> => {
      const text = await (await fetch(`${net.gateway.adminUrl}/metrics`)).text();
      const line = new RegExp(
        `^meadow_gateway_tunnels_total\\{[^}]*protocol="${protocol}"[^}]*result="ok"[^}]*\\} (\\d+)`,
        'm',
      );
      return Number(line.exec(text)?.[1] ?? 0);
    };
    try {
      for (const [dispatcher, protocol] of [
        [connect, 'http-connect'],
        [forward, 'http-forward'],
        [socks, 'socks5'],
      ] as const) {
        const before = await opened(protocol);
        const res = await request(net.origin.url, { dispatcher });
        expect(res.statusCode).toBe(200);
        expect(net.relays.map((r) => r.egressAddress)).toContain(egressOf(await res.body.text()));
        expect(await opened(protocol)).toBe(before + 1);
      }
    } finally {
      await Promise.all([connect.close(), forward.close(), socks.close()]);
    }
    await waitForNoTunnels(net);
  });

  it('proxy-chain uses the gateway as its upstream', async () => {
    const chain = new ProxyChainServer({
      port: 0,
      host: '127.0.0.1',
      prepareRequestFunction: () => ({
        upstreamProxyUrl: `http://demo:${encodeURIComponent(key())}@127.0.0.1:${net.gateway.http.port}`,
      }),
    });
    await chain.listen();
    try {
      for (const args of [[], ['-p']]) {
        const res = await curl([...args, '-x', `http://127.0.0.1:${chain.port}`, net.origin.url]);
        expect(res.status).toBe(200);
        expect(net.relays.map((r) => r.egressAddress)).toContain(egressOf(res.body));
      }
    } finally {
      await chain.close(true);
    }
  });

  it('Crawlee (HttpCrawler with a session-aware ProxyConfiguration) keeps one exit per session', async () => {
    const { HttpCrawler, ProxyConfiguration, Configuration } = await import('@crawlee/http');
    const config = new Configuration({
      persistStorage: false,
      storageClientOptions: { localDataDirectory: join(dir, 'crawlee') },
    });
    const seen = new Map<string, Set<string>>();
    const proxyConfiguration = new ProxyConfiguration({
      newUrlFunction: (sessionId) =>
        `http://demo-session-${String(sessionId).replace(/[^A-Za-z0-9_]/g, '_')}:${encodeURIComponent(key())}@127.0.0.1:${net.gateway.http.port}`,
    });
    const crawler = new HttpCrawler(
      {
        proxyConfiguration,
        useSessionPool: true,
        sessionPoolOptions: { maxPoolSize: 2 },
        maxConcurrency: 2,
        maxRequestRetries: 0,
        requestHandler: async ({ body, session }) => {
          const id = session?.id ?? 'none';
          if (!seen.has(id)) seen.set(id, new Set());
          seen.get(id)?.add(egressOf(String(body)));
        },
      },
      config,
    );
    await crawler.run(Array.from({ length: 16 }, (_, i) => `${net.origin.url}?page=${i}`));
    expect([...seen.values()].reduce((n, s) => n + s.size, 0)).toBeGreaterThan(0);
    for (const exits of seen.values()) expect(exits.size).toBe(1);
    expect(crawler.stats.state.requestsFinished).toBe(16);
  });
});

describe('routing', () => {
  const viaHttp = (username: string) =>
    curl(['-x', `http://127.0.0.1:${net.gateway.http.port}`, '--proxy-user', `${username}:${key()}`, net.origin.url]);

  it('rotates without a session and sticks with one', async () => {
    const rotating = new Set<string>();
    for (let i = 0; i < 20; i++) rotating.add(egressOf((await viaHttp('demo')).body));
    expect(rotating.size).toBeGreaterThan(1);
    const sticky = new Set<string>();
    for (let i = 0; i < 20; i++) sticky.add(egressOf((await viaHttp('demo-session-s1')).body));
    expect(sticky.size).toBe(1);
  });

  it('targets a country', async () => {
    const fr = net.relays.find((r) => r.country === 'FR');
    for (let i = 0; i < 5; i++) expect(egressOf((await viaHttp('demo-country-fr')).body)).toBe(fr?.egressAddress);
    const none = await viaHttp('demo-country-jp');
    expect(none.status).toBe(503);
    expect(none.headers).toMatch(/retry-after: \d+/i);
    expect(none.headers).toMatch(/error=destination_unavailable/);
    expect(none.headers).toMatch(
      /no relay in JP is linked to this gateway \(routable relays: (DE 2, FR 1|FR 1, DE 2)\)/,
    );
  });

  it('never serves a session from the wrong country: named with another country, it moves there', async () => {
    const fr = net.relays.find((r) => r.country === 'FR');
    const first = await viaHttp('demo-country-fr-session-travel');
    expect(egressOf(first.body)).toBe(fr?.egressAddress);
    const strict = await viaHttp('demo-country-de-session-travel-strict');
    expect(strict.status).toBe(503);
    expect(strict.headers).toContain("the relay of session 'travel' is in FR, not DE (strict session)");
    const moved = await viaHttp('demo-country-de-session-travel');
    expect(net.relays.find((r) => r.egressAddress === egressOf(moved.body))?.country).toBe('DE');
    expect(moved.headers).toMatch(/^X-Meadow-Session: moved\r$/m);
    expect(moved.headers).toMatch(/^X-Meadow-Country: DE\r$/m);
  });

  it("refuses a port every relay's exit policy refuses with 403, and says so", async () => {
    const smtp = await curl([
      '-x',
      `http://127.0.0.1:${net.gateway.http.port}`,
      '--proxy-user',
      `demo-country-de:${key()}`,
      `http://127.0.0.1:25/`,
    ]);
    expect(smtp.status).toBe(403);
    expect(smtp.headers).not.toMatch(/retry-after/i);
    expect(smtp.headers).toMatch(
      /proxy-status: meadow; error=destination_ip_prohibited; details="gateway: port 25 is refused by the exit policy of all 2 relays in DE"/i,
    );
  });

  it('rejects bad username parameters with 400 and the reason', async () => {
    const res = await viaHttp('demo-zone-x');
    expect(res.status).toBe(400);
    expect(res.headers).toMatch(
      /proxy-status: meadow; error=http_request_error; details="gateway: unknown username parameter 'zone'/i,
    );
    const socks = await socksConnect(
      net.gateway.socks,
      { username: 'demo-country-xyz', password: key() },
      '127.0.0.1',
      net.origin.port,
    ).catch((e: Error) => e);
    expect(String(socks)).toMatch(/Authentication failed/i);
  });

  it('moves a session to another relay of its country when its relay leaves; -strict answers 503 instead', async () => {
    const first = egressOf((await viaHttp('demo-country-de-session-move')).body);
    egressOf((await viaHttp('demo-country-de-session-pinned-strict')).body);
    const pinnedExit = egressOf((await viaHttp('demo-country-de-session-pinned-strict')).body);
    const victim = net.relays.find((r) => r.egressAddress === first);
    expect(victim?.country).toBe('DE');
    victim?.service.kill('SIGKILL');
    await waitFor(
      async () => {
        const gw = await getJson<GatewayStatus>(`${net.gateway.adminUrl}/status`);
        return !gw.relays.some((r) => r.peerId === victim?.peerId);
      },
      30_000,
      'gateway drops the killed relay',
    );
    const movedReply = await viaHttp('demo-country-de-session-move');
    const moved = egressOf(movedReply.body);
    expect(moved).not.toBe(first);
    // The move is not silent: the response that moved the session says so.
    expect(movedReply.headers).toMatch(/^X-Meadow-Session: moved\r$/m);
    expect(movedReply.headers).toContain(
      `X-Meadow-Relay: ${net.relays.find((r) => r.egressAddress === moved)?.peerId}\r\n`,
    );
    expect(net.relays.find((r) => r.egressAddress === moved)?.country).toBe('DE');
    const metrics = await (await fetch(`${net.gateway.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/^meadow_gateway_session_tunnels_total\{outcome="moved"\} [1-9]/m);
    const strict = await viaHttp('demo-country-de-session-pinned-strict');
    if (pinnedExit === first) {
      expect(strict.status).toBe(503);
      expect(strict.headers).toMatch(/strict session/);
    } else {
      expect(egressOf(strict.body)).toBe(pinnedExit);
    }
  });
});
