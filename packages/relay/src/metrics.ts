import { Counter, Gauge, type Registry } from 'prom-client';

export interface RelayMetrics {
  tunnels: Counter<'result'>;
  bytes: Counter<'direction'>;
  refusals: Counter<'reason'>;
  activeTunnels: Gauge;
  gatewayLinks: Gauge;
}

export function createRelayMetrics(registry: Registry): RelayMetrics {
  return {
    tunnels: new Counter({
      name: 'meadow_relay_tunnels_total',
      help: 'Tunnel requests by outcome (ok or the error code that ended them)',
      labelNames: ['result'],
      registers: [registry],
    }),
    bytes: new Counter({
      name: 'meadow_relay_payload_bytes_total',
      help: 'Payload bytes carried, by direction (to_target, from_target)',
      labelNames: ['direction'],
      registers: [registry],
    }),
    refusals: new Counter({
      name: 'meadow_relay_egress_refusals_total',
      help: 'Tunnels refused by the egress guard, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    activeTunnels: new Gauge({ name: 'meadow_relay_active_tunnels', help: 'Tunnels open now', registers: [registry] }),
    gatewayLinks: new Gauge({
      name: 'meadow_relay_gateway_links',
      help: 'Gateways this relay is linked to now',
      registers: [registry],
    }),
  };
}
