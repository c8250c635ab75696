import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { Gateway } from './gateway.ts';
import { score } from './relay-pool.ts';

/** Operator API on loopback by default: /status (pool), /usage (per customer and relay), /metrics. */
export async function startAdminServer(
  gateway: Gateway,
  registry: Registry,
  listen: { host: string; port: number },
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (body: unknown): void => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
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
    } else {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: 'not found', paths: ['/status', '/usage', '/metrics'] }));
    }
  });
  server.listen(listen.port, listen.host);
  await once(server, 'listening');
  return server;
}
