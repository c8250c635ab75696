import { MEADOW_VERSION } from '@meadow/protocol';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/** A process's own Prometheus registry (never the global one), with process metrics and meadow_build_info. */
export function createRegistry(role: 'bootstrap' | 'relay' | 'gateway'): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: `meadow_${role}_` });
  new Gauge({
    name: 'meadow_build_info',
    help: 'Meadow build',
    labelNames: ['version', 'role'],
    registers: [registry],
  }).set({ version: MEADOW_VERSION, role }, 1);
  return registry;
}
