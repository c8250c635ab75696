import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import { hostIsLoopback, tokenChallenge, tokenCheck } from '@meadow/protocol';
import type { Registry } from 'prom-client';
import type { Gateway } from './gateway.ts';
import { NetworkHealth } from './network-health.ts';
import { NETWORK_CSS, networkPage } from './network-page.ts';
import { score } from './relay-pool.ts';

const LOOPBACK = ['127.0.0.1', '::1', 'localhost'];
const HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

export interface AdminListen {
  host: string;
  port: number;
  /** When set, every request must carry it: `Authorization: Bearer <token>`, or as a Basic password. */
  token?: string;
}

/**
 * Operator API, on loopback by default: / (network health page), /network (the same as JSON),
 * /status (pool), /usage (per customer and relay), /customers/<name> (one customer's account, as
 * the customer sees it at /account on the proxy port), /metrics, /ready (for load balancers). On a
 * loopback address, requests whose Host is not a loopback name are refused (DNS-rebinding defence);
 * with a token, requests without it get 401, except /ready, which tells only whether tunnels can open.
 */
export async function startAdminServer(
  gateway: Gateway,
  registry: Registry,
  listen: AdminListen,
): Promise<{ server: ReturnType<typeof createServer>; health: NetworkHealth }> {
  const health = new NetworkHealth(gateway);
  const checkHost = LOOPBACK.includes(listen.host);
  const carriesToken = listen.token == null ? undefined : tokenCheck(listen.token);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string): void => {
      res.writeHead(status, { ...HEADERS, 'content-type': type }).end(body);
    };
    const json = (body: unknown): void => send(200, 'application/json', JSON.stringify(body));
    const fail = (r: ServerResponse, err: Error): void => {
      if (!r.headersSent) send(500, 'text/plain; charset=utf-8', err.message);
      else r.destroy(err);
    };
    if (checkHost && !hostIsLoopback(req.headers.host)) {
      send(403, 'application/json', JSON.stringify({ error: 'Host must be 127.0.0.1, [::1] or localhost' }));
    } else if (path === '/ready' && (req.method === 'GET' || req.method === 'HEAD')) {
      const readiness = gateway.readiness();
      send(readiness.ready ? 200 : 503, 'application/json', JSON.stringify(readiness));
    } else if (carriesToken != null && !carriesToken(req.headers.authorization)) {
      res
        .writeHead(401, {
          ...HEADERS,
          'content-type': 'application/json',
          'www-authenticate': tokenChallenge('meadow gateway admin'),
        })
        .end(
          JSON.stringify({
            error:
              'the admin token is missing or wrong: send Authorization: Bearer <token>, or the token as a Basic password',
          }),
        );
    } else if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => send(200, registry.contentType, text),
        (err: Error) => fail(res, err),
      );
    } else if (path === '/' || path === '/network') {
      health.report().then(
        (report) =>
          path === '/' ? send(200, 'text/html; charset=utf-8', networkPage(report, gateway.peerId).text) : json(report),
        (err: Error) => fail(res, err),
      );
    } else if (path === '/assets/network.css') {
      send(200, 'text/css; charset=utf-8', NETWORK_CSS);
    } else if (path === '/status') {
      json({
        peerId: gateway.peerId,
        multiaddrs: gateway.multiaddrs,
        advertised: gateway.isAdvertised,
        activeTunnels: gateway.service.activeTunnels,
        relaysByCountry: gateway.pool.countByCountry(),
        relays: gateway.pool.all().map((r) => ({
          peerId: r.peerId,
          routable: gateway.pool.isRoutable(r),
          country: r.descriptor?.country ?? null,
          activeTunnels: r.mux.activeTunnels,
          successRate: Number(r.successRate.toFixed(3)),
          connectLatencyMs: Number(r.connectLatencyMs.toFixed(1)),
          score: Number(score(r).toFixed(4)),
        })),
      });
    } else if (path === '/usage') {
      json(gateway.service.usage());
    } else if (path?.startsWith('/customers/')) {
      // What the customer itself sees at GET /account on the proxy port: an operator helping a
      // customer reads the same plan, usage and recent failures.
      let name: string | undefined;
      try {
        name = decodeURIComponent(path.slice('/customers/'.length));
      } catch {} // a malformed %-escape: no such customer
      (name == null ? Promise.resolve(undefined) : gateway.service.account(name)).then(
        (account) => {
          if (account != null) json(account);
          else send(404, 'application/json', JSON.stringify({ error: 'no such customer' }));
        },
        (err: Error) => fail(res, err),
      );
    } else {
      send(
        404,
        'application/json',
        JSON.stringify({
          error: 'not found',
          paths: ['/', '/network', '/status', '/usage', '/customers/<name>', '/metrics', '/ready'],
        }),
      );
    }
  });
  server.listen(listen.port, listen.host);
  await once(server, 'listening');
  health.start();
  server.once('close', () => health.stop());
  return { server, health };
}
