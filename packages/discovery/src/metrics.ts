import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type LookupKind = 'gateways' | 'relays' | 'descriptor' | 'descriptor_direct' | 'publish' | 'advertise';

/** DHT metrics, on the owning process's registry. */
export interface DiscoveryMetrics {
  observe<T>(kind: LookupKind, run: () => Promise<T>, empty?: (value: T) => boolean): Promise<T>;
}

export function createDiscoveryMetrics(
  registry: Registry | undefined,
  routingTableSize: () => number,
): DiscoveryMetrics {
  if (registry == null) return { observe: (_kind, run) => run() };
  const lookups = new Counter({
    name: 'meadow_dht_lookups_total',
    help: 'DHT operations by kind and result (ok, empty, error)',
    labelNames: ['kind', 'result'],
    registers: [registry],
  });
  const seconds = new Histogram({
    name: 'meadow_dht_lookup_seconds',
    help: 'Duration of DHT operations by kind',
    labelNames: ['kind'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  new Gauge({
    name: 'meadow_dht_routing_table_peers',
    help: 'Peers in this node’s Kademlia routing table',
    registers: [registry],
    collect() {
      this.set(routingTableSize());
    },
  });
  return {
    async observe(kind, run, empty) {
      const end = seconds.startTimer({ kind });
      try {
        const value = await run();
        lookups.inc({ kind, result: empty?.(value) === true ? 'empty' : 'ok' });
        return value;
      } catch (err) {
        lookups.inc({ kind, result: 'error' });
        throw err;
      } finally {
        end();
      }
    },
  };
}
