import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Relay } from './relay.ts';

/** The relay's local status API: JSON at /status, Prometheus text at /metrics. Loopback only. */
export async function startStatusServer(
  relay: Relay,
  registry: Registry,
  listen: { host: string; port: number },
): Promise<Server> {
  if (!['127.0.0.1', '::1', 'localhost'].includes(listen.host)) {
    throw new Error(`status.host must be a loopback address, got "${listen.host}"`);
  }
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
      return;
    }
    if (path === '/status') {
      const body = {
        peerId: relay.peerId,
        version: relay.publishedDescriptor?.softwareVersion,
        uptimeSeconds: Math.round((Date.now() - relay.startedAt.getTime()) / 1000),
        state: 'serving',
        country: relay.init.country,
        egressAddress: relay.init.egressAddress ?? null,
        activeTunnels: relay.active,
        meter: { total: relay.meter.total, byGateway: relay.meter.byGateway() },
        gateways: relay.gatewayLinks(),
        descriptorPublished: relay.publishedDescriptor != null,
      };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      return;
    }
    res
      .writeHead(404, { 'content-type': 'application/json' })
      .end(JSON.stringify({ error: 'not found', paths: ['/status', '/metrics'] }));
  });
  server.listen(listen.port, listen.host);
  await once(server, 'listening');
  return server;
}

export function serverUrl(server: Server): string {
  const { address, port } = server.address() as AddressInfo;
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
}
