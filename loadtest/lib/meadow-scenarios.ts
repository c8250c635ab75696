import type { Socket } from 'node:net';
import type { LocalNetwork } from '@meadow/cli';
import { getJson, rssBytes, socksConnect, waitFor, waitForNoTunnels } from '../../test/harness.ts';
import type { LoadgenMetrics } from './loadgen-metrics.ts';

const MiB = 1024 * 1024;

export interface IdleResult {
  tunnels: number;
  gatewayBytesPerTunnel: number;
  relayBytesPerTunnel: number;
  openSeconds: number;
  gatewayRssBefore: number;
  relayRssBefore: number;
}

/** Holds `count` idle tunnels open at once and measures what each costs the gateway and the relay. */
export async function idleTunnels(net: LocalNetwork, metrics: LoadgenMetrics, count: number): Promise<IdleResult> {
  const relay = net.relays[0];
  if (relay == null) throw new Error('idle needs a relay');
  const pids = { gateway: net.gateway.service.process.pid as number, relay: relay.service.process.pid as number };
  await settle();
  const before = { gateway: rssBytes(pids.gateway), relay: rssBytes(pids.relay) };
  const creds = { username: net.customer.name, password: net.customer.apiKey };
  const sockets: Socket[] = [];
  const labels = { scenario: 'idle', path: 'meadow-socks5' };
  const started = performance.now();
  try {
    for (let i = 0; i < count; i += 200) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(200, count - i) }, async () => {
          const t = performance.now();
          const socket = await socksConnect(net.gateway.socks, creds, net.origin.host, net.origin.port);
          socket.on('error', () => metrics.requests.inc({ ...labels, result: 'reset_while_idle' }));
          metrics.setupSeconds.observe(labels, (performance.now() - t) / 1000);
          metrics.requests.inc({ ...labels, result: 'ok' });
          return socket;
        }),
      );
      sockets.push(...batch);
    }
    const openSeconds = (performance.now() - started) / 1000;
    await waitFor(
      async () => (await getJson<{ activeTunnels: number }>(`${relay.statusUrl}/status`)).activeTunnels >= count,
      30_000,
      `${count} tunnels open at the relay`,
    );
    await settle();
    const after = { gateway: rssBytes(pids.gateway), relay: rssBytes(pids.relay) };
    return {
      tunnels: count,
      gatewayBytesPerTunnel: (after.gateway - before.gateway) / count,
      relayBytesPerTunnel: (after.relay - before.relay) / count,
      openSeconds,
      gatewayRssBefore: before.gateway,
      relayRssBefore: before.relay,
    };
  } finally {
    for (const s of sockets) s.destroy();
    await waitForNoTunnels(net, 60_000);
  }
}

async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 3_000));
}

export interface MixedResult {
  requests: number;
  failures: number;
  sessions: number;
  /** Sessions that saw more than one exit address (a broken sticky session). */
  sessionsMoved: number;
  /** Requests that left through a relay of another country than asked for. */
  wrongCountry: number;
  seconds: number;
}

/**
 * Several countries and sticky sessions over a network of many relays: each worker is a crawler
 * session pinned to a country; every request is a new tunnel; the origin reports the exit address.
 */
export async function mixed(
  net: LocalNetwork,
  metrics: LoadgenMetrics,
  options: {
    concurrency: number;
    durationMs: number;
    /** Hosts the requests go to in turn, each served by the origin (default: its IP address). */
    hosts?: string[];
  },
): Promise<MixedResult> {
  const hosts = options.hosts ?? [net.origin.host];
  const countryOf = new Map(net.relays.map((r) => [r.egressAddress, r.country]));
  const countries = [...new Set(net.relays.map((r) => r.country))];
  const exits = new Map<string, Set<string>>();
  const labels = { scenario: 'mixed', path: 'meadow-socks5' };
  let requests = 0;
  let failures = 0;
  let wrongCountry = 0;
  const started = performance.now();
  const deadline = Date.now() + options.durationMs;
  await Promise.all(
    Array.from({ length: options.concurrency }, async (_, worker) => {
      const country = countries[worker % countries.length] as string;
      const session = `s${worker}`;
      const username = `${net.customer.name}-country-${country.toLowerCase()}-session-${session}`;
      for (let n = worker; Date.now() < deadline; n += options.concurrency) {
        const host = hosts[n % hosts.length] as string;
        const t = performance.now();
        try {
          const socket = await socksConnect(
            net.gateway.socks,
            { username, password: net.customer.apiKey },
            host,
            net.origin.port,
          );
          metrics.setupSeconds.observe(labels, (performance.now() - t) / 1000);
          socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
          const chunks: Buffer[] = [];
          socket.on('data', (c: Buffer) => chunks.push(c));
          await new Promise<void>((resolve, reject) => {
            socket.once('close', () => resolve());
            socket.once('error', reject);
          });
          const text = Buffer.concat(chunks).toString();
          const seen = (JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { youAre: string }).youAre.replace(
            /^::ffff:/,
            '',
          );
          if (countryOf.get(seen) !== country) wrongCountry++;
          let set = exits.get(session);
          if (set == null) {
            set = new Set();
            exits.set(session, set);
          }
          set.add(seen);
          requests++;
          metrics.requestSeconds.observe(labels, (performance.now() - t) / 1000);
          metrics.requests.inc({ ...labels, result: 'ok' });
        } catch (err) {
          failures++;
          metrics.requests.inc({ ...labels, result: (err as Error).message.slice(0, 30).replace(/\W/g, '_') });
        }
      }
    }),
  );
  return {
    requests,
    failures,
    sessions: exits.size,
    sessionsMoved: [...exits.values()].filter((s) => s.size > 1).length,
    wrongCountry,
    seconds: (performance.now() - started) / 1000,
  };
}

export { MiB };
