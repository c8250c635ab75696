import { randomBytes, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { LiveCounts } from '@meadow/protocol';
import type { Registry } from 'prom-client';
import type { Relay } from './relay.ts';

const LOOPBACK = ['127.0.0.1', '::1', 'localhost'];

/** The control token: random, created once in the data folder with mode 0600; needed for every change. */
export function loadOrCreateControlToken(dataDir: string): string {
  const path = join(dataDir, 'control.token');
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = randomBytes(24).toString('base64url');
  writeFileSync(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
  return token;
}

/**
 * The relay's local API, on loopback only:
 *   GET  /status           state, meters, caps, gateways (JSON)
 *   GET  /metrics          Prometheus text
 *   POST /control/pause    stop taking tunnels (Authorization: Bearer <control token>)
 *   POST /control/resume
 * Requests whose Host is not a loopback name are refused (DNS-rebinding defence).
 */
export async function startStatusServer(
  relay: Relay,
  registry: Registry,
  listen: { host: string; port: number },
  controlToken: string,
): Promise<Server> {
  if (!LOOPBACK.includes(listen.host)) throw new Error(`status.host must be a loopback address, got "${listen.host}"`);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown): void => {
      res
        .writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end(JSON.stringify(body));
    };
    if (!hostIsLoopback(req)) return json(403, { error: 'Host must be 127.0.0.1, [::1] or localhost' });
    if (req.method === 'POST' && (path === '/control/pause' || path === '/control/resume')) {
      if (!authorized(req, controlToken))
        return json(401, { error: 'missing or wrong control token (Authorization: Bearer …)' });
      if (path === '/control/pause') relay.controls.pause();
      else relay.controls.resume();
      return json(200, relay.controls.state);
    }
    if (req.method !== 'GET') return json(405, { error: 'method not allowed' });
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
      return;
    }
    if (path === '/status') return json(200, statusBody(relay));
    return json(404, {
      error: 'not found',
      paths: ['/status', '/metrics', 'POST /control/pause', 'POST /control/resume'],
    });
  });
  server.listen(listen.port, listen.host);
  await once(server, 'listening');
  return server;
}

function statusBody(relay: Relay): unknown {
  const controls = relay.controls;
  const state = controls.state;
  const usage = controls.usage();
  const cap = controls.init.cap;
  return {
    peerId: relay.peerId,
    version: relay.publishedDescriptor?.softwareVersion,
    uptimeSeconds: Math.round((Date.now() - relay.startedAt.getTime()) / 1000),
    state: state.state,
    stateReason: state.reason,
    hibernatingUntil: state.until == null ? null : new Date(state.until).toISOString(),
    country: relay.init.country,
    payoutAddress: relay.init.payoutAddress,
    egressAddress: relay.init.egressAddress ?? null,
    activeTunnels: relay.active,
    bytes: {
      today: usage.today,
      period: usage.period,
      allTime: usage.allTime,
    },
    cap:
      cap == null
        ? null
        : {
            bytes: cap.bytes,
            remainingBytes: controls.remainingBytes(),
            periodStart: usage.periodStart == null ? null : new Date(usage.periodStart).toISOString(),
            periodEnd: usage.periodEnd == null ? null : new Date(usage.periodEnd).toISOString(),
          },
    rateLimit: controls.init.rate ?? null,
    meter: meterStatus(relay),
    gateways: relay.gatewayLinks(),
    descriptorPublished: relay.publishedDescriptor != null,
  };
}

function hostIsLoopback(req: IncomingMessage): boolean {
  const host = (req.headers.host ?? '').toLowerCase();
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0];
  return name === '127.0.0.1' || name === 'localhost' || name === '[::1]';
}

function authorized(req: IncomingMessage, token: string): boolean {
  const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
  if (m == null) return false;
  const given = Buffer.from(m[1] as string);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function serverUrl(server: Server): string {
  const { address, port } = server.address() as AddressInfo;
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/** Bytes this process carried, in total and per gateway (the receipts use the persisted all-time counts). */
function meterStatus(relay: Relay): { total: LiveCounts; byGateway: Record<string, LiveCounts> } {
  const byGateway = Object.fromEntries(relay.meter.keys().map((g) => [g, relay.meter.sinceStart(g)]));
  const total = { tunnels: 0, bytesToTarget: 0, bytesFromTarget: 0 };
  for (const counts of Object.values(byGateway)) {
    total.tunnels += counts.tunnels;
    total.bytesToTarget += counts.bytesToTarget;
    total.bytesFromTarget += counts.bytesFromTarget;
  }
  return { total, byGateway };
}
