import type { Socket } from 'node:net';
import type { LocalNetwork } from '@meadow/cli';
import { type Dispatcher, Pool, ProxyAgent, request, Socks5ProxyAgent } from 'undici';
import type { LoadgenMetrics } from './loadgen-metrics.ts';
import type { Path } from './paths.ts';

export interface RunWindow {
  /** Unix seconds, for PromQL `@` modifiers. */
  start: number;
  end: number;
}

const now = (): number => Date.now() / 1000;

/** `concurrency` workers, each running `step` again and again until the deadline. */
async function untilDeadline(concurrency: number, durationMs: number, step: () => Promise<void>): Promise<RunWindow> {
  const start = now();
  const deadline = Date.now() + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) await step();
    }),
  );
  return { start, end: now() };
}

/** Reads an HTTP/1.1 response with `Connection: close` to its end; returns the bytes received. */
export function readToEnd(socket: Socket, signal: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const onAbort = (): void => {
      socket.destroy(new Error('deadline'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.byteLength;
    });
    socket.once('error', reject);
    socket.once('close', () => {
      signal.removeEventListener('abort', onAbort);
      resolve(bytes);
    });
  });
}

/**
 * Downloads `bytes` from the origin over one fresh connection through `path`, within `timeoutMs`
 * (the socket is destroyed when it passes); throws unless every byte arrived.
 */
export async function download(
  path: Path,
  host: string,
  bytes: number,
  timeoutMs = 120_000,
): Promise<{ received: number; seconds: number }> {
  const started = performance.now();
  const socket = await path.connect();
  socket.write(`GET /bytes/${bytes} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  const received = await readToEnd(socket, AbortSignal.timeout(timeoutMs));
  if (received < bytes) throw new Error(`${path.name}: ${received} of ${bytes} bytes arrived`);
  return { received, seconds: (performance.now() - started) / 1000 };
}

function errorCode(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return (e.code ?? e.message ?? 'error').slice(0, 40).replace(/[^A-Za-z0-9_]/g, '_');
}

/** A dispatcher that keeps `connections` connections to the origin alive through the path. */
function keepAliveDispatcher(path: Path, net: LocalNetwork, connections: number): Dispatcher {
  const proxyAuth = `Basic ${Buffer.from(`${net.customer.name}:${net.customer.apiKey}`).toString('base64')}`;
  if (path.name === 'meadow-connect')
    return new ProxyAgent({
      uri: `http://${net.gateway.http.host}:${net.gateway.http.port}`,
      token: proxyAuth,
      connections,
      // Without it undici forwards an http: URL (absolute-URI) instead of opening a CONNECT tunnel.
      proxyTunnel: true,
    });
  if (path.name === 'meadow-socks5')
    return new Socks5ProxyAgent(`socks5://${net.gateway.socks.host}:${net.gateway.socks.port}`, {
      username: net.customer.name,
      password: net.customer.apiKey,
      connections,
    });
  return new Pool(net.origin.url, {
    connections,
    connect: (_opts, callback) => {
      path.connect().then(
        (socket) => callback(null, socket),
        (err: Error) => callback(err, null),
      );
    },
  });
}

/** Small responses on kept-alive connections: `concurrency` workers, each request after the last. */
export async function keepAlive(
  path: Path,
  net: LocalNetwork,
  metrics: LoadgenMetrics,
  options: { concurrency: number; durationMs: number; scenario: string },
): Promise<RunWindow> {
  const dispatcher = keepAliveDispatcher(path, net, options.concurrency);
  const labels = { scenario: options.scenario, path: path.name };
  const url = `${net.origin.url.replace(/\/$/, '')}/bytes/1024`;
  const window = await untilDeadline(options.concurrency, options.durationMs, async () => {
    const started = performance.now();
    try {
      const res = await request(url, { dispatcher, signal: AbortSignal.timeout(10_000) });
      const body = Buffer.from(await res.body.arrayBuffer());
      if (res.statusCode !== 200 || body.byteLength !== 1024) throw new Error(`status ${res.statusCode}`);
      metrics.requestSeconds.observe(labels, (performance.now() - started) / 1000);
      metrics.bytes.inc(labels, body.byteLength);
      metrics.requests.inc({ ...labels, result: 'ok' });
    } catch (err) {
      metrics.requests.inc({ ...labels, result: errorCode(err) });
    }
  });
  await dispatcher.close();
  return window;
}

/** A crawler's pattern: a new tunnel (or connection) per request, one GET, close. */
export async function crawler(
  path: Path,
  net: LocalNetwork,
  metrics: LoadgenMetrics,
  options: { concurrency: number; durationMs: number; scenario: string },
): Promise<RunWindow> {
  const labels = { scenario: options.scenario, path: path.name };
  const head = Buffer.from(`GET /bytes/1024 HTTP/1.1\r\nHost: ${net.origin.host}\r\nConnection: close\r\n\r\n`);
  return untilDeadline(options.concurrency, options.durationMs, async () => {
    const started = performance.now();
    try {
      const socket = await path.connect();
      metrics.setupSeconds.observe(labels, (performance.now() - started) / 1000);
      socket.write(head);
      const bytes = await readToEnd(socket, AbortSignal.timeout(10_000));
      if (bytes < 1024) throw new Error('short response');
      metrics.requestSeconds.observe(labels, (performance.now() - started) / 1000);
      metrics.bytes.inc(labels, bytes);
      metrics.requests.inc({ ...labels, result: 'ok' });
    } catch (err) {
      metrics.requests.inc({ ...labels, result: errorCode(err) });
    }
  });
}

/**
 * The crawler's pattern without metrics: a 1 KiB GET over a fresh connection per request at
 * `concurrency` until the deadline (or `maxTunnels` started); counts completed and failed tunnels.
 * For the cost benchmarks and the warm-up.
 */
export async function crawlFor(
  path: Path,
  originHost: string,
  durationMs: number,
  concurrency: number,
  maxTunnels = Number.POSITIVE_INFINITY,
): Promise<{ ok: number; failed: number }> {
  const head = Buffer.from(`GET /bytes/1024 HTTP/1.1\r\nHost: ${originHost}\r\nConnection: close\r\n\r\n`);
  const deadline = Date.now() + durationMs;
  let started = 0;
  let ok = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline && started < maxTunnels) {
        started++;
        try {
          const socket = await path.connect();
          socket.write(head);
          if ((await readToEnd(socket, AbortSignal.timeout(10_000))) >= 1024) ok++;
          else failed++;
        } catch {
          failed++;
        }
      }
    }),
  );
  return { ok, failed };
}

/**
 * How long a path is driven with crawler load before its tunnels are measured. V8 goes on compiling
 * the gateway's and the relay's tunnel set-up code for tens of thousands of tunnels: on-CPU
 * profiles (`perf`) of both under crawler load at c=64 found concurrent compilation at 11% of
 * their CPU between seconds 4 and 14, 0.5% between seconds 40 and 50; their CPU per tunnel was
 * 808 µs over tunnels 4 000–9 600 and 705 µs over tunnels 60 000–66 700 (docs/performance.md).
 * A gateway in service is long past that; a benchmark that measured it in its first seconds
 * measured the compiler. The two-hop pass-through, a few lines of code, settles within its first
 * few thousand connections, but gets the same warm-up.
 */
export const CRAWLER_WARMUP = { tunnels: 40_000, ms: 30_000 };

/** Crawler load on `path` until CRAWLER_WARMUP's tunnels have run or its time is up. */
export function warmUpCrawler(
  path: Path,
  originHost: string,
  concurrency = 64,
  warmup: { tunnels: number; ms: number } = CRAWLER_WARMUP,
): Promise<{ ok: number; failed: number }> {
  return crawlFor(path, originHost, warmup.ms, concurrency, warmup.tunnels);
}

/** One connection downloads `bytes` from the origin. */
export async function bulk(
  path: Path,
  net: LocalNetwork,
  metrics: LoadgenMetrics,
  options: { bytes: number; scenario: string },
): Promise<RunWindow & { received: number }> {
  const labels = { scenario: options.scenario, path: path.name };
  const start = now();
  const socket = await path.connect();
  socket.write(`GET /bytes/${options.bytes} HTTP/1.1\r\nHost: ${net.origin.host}\r\nConnection: close\r\n\r\n`);
  let received = 0;
  let counted = 0;
  // Count as bytes arrive, so Prometheus sees the rate during the transfer too.
  const timer = setInterval(() => {
    metrics.bytes.inc(labels, received - counted);
    counted = received;
  }, 250);
  socket.on('data', (chunk: Buffer) => {
    received += chunk.byteLength;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('close', () => resolve());
  }).finally(() => clearInterval(timer));
  metrics.bytes.inc(labels, received - counted);
  const end = now();
  metrics.requestSeconds.observe(labels, end - start);
  metrics.requests.inc({ ...labels, result: received >= options.bytes ? 'ok' : 'short' });
  return { start, end, received };
}
