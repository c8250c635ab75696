import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface LoadgenMetrics {
  registry: Registry;
  requests: Counter<'scenario' | 'path' | 'result'>;
  requestSeconds: Histogram<'scenario' | 'path'>;
  setupSeconds: Histogram<'scenario' | 'path'>;
  bytes: Counter<'scenario' | 'path'>;
  server: Server;
  port: number;
}

const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5,
];

/** The load generator's own registry and /metrics endpoint: Prometheus scrapes it like any Meadow process. */
export async function startLoadgenMetrics(): Promise<LoadgenMetrics> {
  const registry = new Registry();
  new Gauge({
    name: 'meadow_build_info',
    help: 'Meadow build',
    labelNames: ['version', 'role'],
    registers: [registry],
  }).set({ version: '0.1.0', role: 'loadgen' }, 1);
  const metrics = {
    registry,
    requests: new Counter({
      name: 'meadow_loadgen_requests_total',
      help: 'Requests (or transfers) by scenario, path and result (ok or an error code)',
      labelNames: ['scenario', 'path', 'result'],
      registers: [registry],
    }),
    requestSeconds: new Histogram({
      name: 'meadow_loadgen_request_seconds',
      help: 'Time from sending a request to its last response byte',
      labelNames: ['scenario', 'path'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    setupSeconds: new Histogram({
      name: 'meadow_loadgen_setup_seconds',
      help: 'Time to get a connection to the origin through the path (TCP connect, or proxy handshake and tunnel)',
      labelNames: ['scenario', 'path'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    bytes: new Counter({
      name: 'meadow_loadgen_received_bytes_total',
      help: 'Response bytes received by scenario and path',
      labelNames: ['scenario', 'path'],
      registers: [registry],
    }),
  };
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { ...metrics, server, port: (server.address() as AddressInfo).port };
}
