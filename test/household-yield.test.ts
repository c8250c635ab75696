import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildService, type LocalNetwork, startLocalNetwork } from '@meadow/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, waitFor } from './harness.ts';
import { createHomeLine, type HomeLine } from './services/home-line.ts';

// A relay at home, behind a 4 Mbit/s upload (DSL) with a modem's deep buffer (one second of it). A
// crawler downloads through it as fast as it can, so every byte crosses that upload, while the
// household pings out of the same home. Without yielding, the relay fills the modem's queue and
// the household's pings wait behind it; with it, the relay holds its rate down so that they don't.

const UPLOAD_MBIT = 4;
const LINE_BYTES_PER_SECOND = (UPLOAD_MBIT * 1_000_000) / 8;
const CRAWLS = 16;

let line: HomeLine;
let site: Server;
let sitePort: number;
let net: LocalNetwork;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-yield-'));
  line = await createHomeLine({ uploadMbit: UPLOAD_MBIT, bufferMs: 1_000 });
  // A site that sends for as long as the crawler reads.
  const chunk = Buffer.alloc(64 * 1024, 'x');
  site = createServer((req, res) => {
    if (req.url === '/small') return void res.writeHead(200, { 'content-length': '1000' }).end(Buffer.alloc(1000, 's'));
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const pump = (): void => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    pump();
  });
  site.listen(0, line.internetAddress);
  await once(site, 'listening');
  sitePort = (site.address() as { port: number }).port;
  net = await startLocalNetwork({
    dir,
    relays: 0,
    bootstrapListen: [`/ip4/${line.internetAddress}/tcp/0`],
    gatewayNetwork: { listen: [`/ip4/${line.internetAddress}/tcp/0`] },
  });
}, 90_000);

afterAll(async () => {
  await net?.stop();
  site?.closeAllConnections();
  site?.close();
  await line?.remove();
  if (dir != null) await rm(dir, { recursive: true, force: true });
});

/** A relay in the home, with its own identity, linked and routable at the gateway when this resolves. */
async function relayAtHome(name: string, yieldAboveDelayMs: number) {
  const configPath = join(dir, `${name}.yaml`);
  await writeFile(
    configPath,
    JSON.stringify({
      identity: join(dir, `${name}.key`),
      dataDir: join(dir, `${name}-data`),
      country: 'DE',
      payoutAddress: `${name}-payout`,
      network: { listen: [], bootstrap: [net.bootstrap.multiaddr], allowPrivateAddresses: true },
      egress: { testOnlyAllowExactTargets: [`${line.internetAddress}:${sitePort}`] },
      rateLimit: { yieldAboveDelayMs },
      limits: { drainTimeoutMs: 1_000 },
      gateways: { keep: 1 },
      descriptorTtlMs: 60_000,
      status: { host: '127.0.0.1', port: 0 },
    }),
  );
  const service = new ChildService(name, ['relay', 'start', '--config', configPath], { launcher: line.launcher });
  const ready = (await service.ready) as { peerId: string; statusUrl: string };
  await waitFor(
    async () =>
      (
        await getJson<{ relays: Array<{ peerId: string; routable: boolean }> }>(`${net.gateway.adminUrl}/status`)
      ).relays.some((r) => r.peerId === ready.peerId && r.routable),
    30_000,
    `${name} routable at the gateway`,
  );
  // Its first round trips on the new link, taken before any tunnel (a yield round runs every second).
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  return { service, statusUrl: ready.statusUrl };
}

/** One small page through the gateway, on a new tunnel: its status (and Proxy-Status) and how long it took. */
function smallPage(auth: string): Promise<{ status: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const done = (status: string) => resolve({ status, ms: Math.round(performance.now() - started) });
    const req = request({
      host: net.gateway.http.host,
      port: net.gateway.http.port,
      path: `http://${line.internetAddress}:${sitePort}/small`,
      headers: { 'proxy-authorization': `Basic ${auth}`, connection: 'close' },
      timeout: 30_000,
    });
    req.on('response', (res) => {
      const status = `${res.statusCode} ${res.headers['proxy-status'] ?? ''}`.trim();
      res.resume();
      res.on('end', () => done(status));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', (err) => done(err.message));
    req.end();
  });
}

/**
 * Crawls through the gateway for `seconds`, `CRAWLS` downloads at once (one tunnel's window alone
 * never fills a modem's queue), with the household's pings during all but the first `settle`,
 * and meanwhile small pages one after another, each on a new tunnel, as a crawler's next request.
 */
async function crawlWhileTheHouseholdPings(seconds: number, settle: number) {
  const received: Array<[number, number]> = [];
  const started = performance.now();
  const auth = Buffer.from(`${net.customer.name}:${net.customer.apiKey}`).toString('base64');
  const requests = Array.from({ length: CRAWLS }, () => {
    const req = request({
      host: net.gateway.http.host,
      port: net.gateway.http.port,
      path: `http://${line.internetAddress}:${sitePort}/stream`,
      headers: { 'proxy-authorization': `Basic ${auth}` },
    });
    req.on('response', (res) => {
      expect(res.statusCode).toBe(200);
      res.on('data', (data: Buffer) => received.push([performance.now() - started, data.byteLength]));
    });
    req.on('error', () => {}); // destroyed at the end
    req.end();
    return req;
  });
  await new Promise((resolve) => setTimeout(resolve, settle * 1000));
  const from = performance.now() - started;
  const small: Array<{ status: string; ms: number }> = [];
  let pinging = true;
  const pages = (async () => {
    while (pinging) small.push(await smallPage(auth));
  })();
  const pings = await line.ping(seconds - settle);
  const to = performance.now() - started;
  pinging = false;
  await pages;
  for (const req of requests) req.destroy();
  const bytes = received.filter(([at]) => at >= from && at < to).reduce((sum, [, n]) => sum + n, 0);
  const sorted = [...pings].sort((a, b) => a - b);
  return {
    pingMedianMs: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN,
    pings: pings.length,
    bytesPerSecond: (bytes * 1000) / (to - from),
    small,
  };
}

describe("a relay on a household's line yields to the household's own traffic", () => {
  it('holds the modem queue near its target delay instead of filling it, and still carries most of the line', async () => {
    // The yielding relay first: a greedy one leaves megabytes in its sockets when it stops, which
    // the kernel goes on sending up the line for seconds.
    const polite = await relayAtHome('polite', 100);
    let withYield: Awaited<ReturnType<typeof crawlWhileTheHouseholdPings>>;
    let metrics: string;
    let log: string;
    let status: { aboveDelayMs: number; queueDelayMs: number | null; ceilingBytesPerSecond: number | null };
    try {
      // The relay has carried nothing yet, as a relay just started at home: it knows the empty
      // line. It gets ten seconds to find its pace, then the household pings for ten.
      withYield = await crawlWhileTheHouseholdPings(20, 10);
      // The status port listens on the home's loopback, as a household's does.
      metrics = await line.run(['curl', '-sS', `${polite.statusUrl}/metrics`]);
      status = JSON.parse(await line.run(['curl', '-sS', `${polite.statusUrl}/status`])).yieldToHousehold;
      log = polite.service.tail();
    } finally {
      await polite.service.stop();
    }

    const greedy = await relayAtHome('greedy', 0);
    let without: Awaited<ReturnType<typeof crawlWhileTheHouseholdPings>>;
    try {
      without = await crawlWhileTheHouseholdPings(9, 3);
    } finally {
      await greedy.service.stop();
    }
    console.log(
      `household ping median: ${without.pingMedianMs} ms without yielding, ${withYield.pingMedianMs} ms with; ` +
        `crawl: ${(without.bytesPerSecond / 1e6).toFixed(2)} MB/s and ${(withYield.bytesPerSecond / 1e6).toFixed(2)} MB/s ` +
        `of a ${(LINE_BYTES_PER_SECOND / 1e6).toFixed(2)} MB/s line; small pages meanwhile (ms): ` +
        `${without.small.map((p) => p.ms).join(' ')} without yielding, ${withYield.small.map((p) => p.ms).join(' ')} with`,
    );
    expect(log).toContain('making room for the household');
    // The setup is a bloated line: a greedy relay keeps the household waiting behind its bytes.
    expect(without.pings).toBeGreaterThan(20);
    expect(without.pingMedianMs).toBeGreaterThan(150);
    expect(without.bytesPerSecond).toBeGreaterThan(LINE_BYTES_PER_SECOND * 0.7);
    // Yielding: the household's pings stay near the empty line's, and crawlers still get a fair share.
    expect(withYield.pings).toBeGreaterThan(20);
    expect(withYield.pingMedianMs).toBeLessThan(50);
    expect(withYield.bytesPerSecond).toBeGreaterThan(LINE_BYTES_PER_SECOND * 0.4);
    // A crawler's next page on a new tunnel takes its turn among the busy ones: it neither waits for
    // them to finish nor times out (it did, 20 s and more, when a full batch served the same few
    // tunnels first again). Without yielding it waits for the modem's queue, seconds, and still
    // arrives: the relay stays linked however late its pings come back.
    expect(withYield.small.length).toBeGreaterThan(3);
    expect(withYield.small.map((p) => p.status)).toEqual(withYield.small.map(() => '200'));
    const sortedSmall = withYield.small.map((p) => p.ms).sort((a, b) => a - b);
    expect(sortedSmall[Math.floor(sortedSmall.length / 2)]).toBeLessThan(3_000);
    expect(without.small.length).toBeGreaterThan(0);
    expect(without.small.map((p) => p.status)).toEqual(without.small.map(() => '200'));
    expect(metrics).toMatch(/^meadow_relay_yield_ceiling_bytes_per_second [1-9]\d*$/m);
    // What the household's dashboard and `meadow relay status` show: holding back, and why.
    expect(status.aboveDelayMs).toBe(100);
    expect(status.ceilingBytesPerSecond).toBeGreaterThan(0);
    expect(status.queueDelayMs).toEqual(expect.any(Number));
    expect(metrics).toMatch(/^meadow_relay_line_queue_delay_seconds \d/m);
  });
});
