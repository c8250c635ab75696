import type { RelayState } from '@meadow/discovery';
import { Counter, Gauge, type Registry } from 'prom-client';

const STATES: RelayState[] = ['serving', 'paused', 'hibernating', 'outside-schedule'];

export interface RelayMetrics {
  tunnels: Counter<'result'>;
  bytes: Counter<'direction'>;
  refusals: Counter<'reason'>;
  /** Failed runs of the background tasks, by task (`RELAY_TASKS`). */
  taskFailures: Counter<'task'>;
  activeTunnels: Gauge;
  gatewayLinks: Gauge;
  /** Receipt proposals answered: signed, disputed, settled, or refused_<reason>. */
  receipts: Counter<'result'>;
  setState(state: RelayState): void;
  /** Reads rate-limit waits from the household controls at scrape time. */
  observeRateLimits(read: () => { waits: number; waitedSeconds: number }): void;
}

/** The relay's background tasks, as the `task` label of their failure counter. */
export const RELAY_TASKS = ['publish_descriptor', 'find_gateways'] as const;

/** Every task's series present at 0, so an alert sees it before the task first fails. */
function zeroed(counter: Counter<'task'>): Counter<'task'> {
  for (const task of RELAY_TASKS) counter.inc({ task }, 0);
  return counter;
}

export function createRelayMetrics(registry: Registry): RelayMetrics {
  const state = new Gauge({
    name: 'meadow_relay_state',
    help: 'The relay state: 1 for the current one (serving, paused, hibernating, outside-schedule)',
    labelNames: ['state'],
    registers: [registry],
  });
  let readRateLimits: () => { waits: number; waitedSeconds: number } = () => ({ waits: 0, waitedSeconds: 0 });
  new Counter({
    name: 'meadow_relay_rate_limit_waits_total',
    help: 'Times a tunnel waited for the household rate limit',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(readRateLimits().waits);
    },
  });
  new Counter({
    name: 'meadow_relay_rate_limit_wait_seconds_total',
    help: 'Total time tunnels waited for the household rate limit',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(readRateLimits().waitedSeconds);
    },
  });
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
    taskFailures: zeroed(
      new Counter({
        name: 'meadow_relay_background_task_failures_total',
        help: `Failed runs of the relay's background tasks, by task (${RELAY_TASKS.join(', ')}); each is retried`,
        labelNames: ['task'],
        registers: [registry],
      }),
    ),
    activeTunnels: new Gauge({ name: 'meadow_relay_active_tunnels', help: 'Tunnels open now', registers: [registry] }),
    gatewayLinks: new Gauge({
      name: 'meadow_relay_gateway_links',
      help: 'Gateways this relay is linked to now',
      registers: [registry],
    }),
    receipts: new Counter({
      name: 'meadow_relay_receipts_total',
      help: 'Receipt requests from gateways by result: signed, disputed, settled, refused_<reason>',
      labelNames: ['result'],
      registers: [registry],
    }),
    setState(current) {
      for (const s of STATES) state.set({ state: s }, s === current ? 1 : 0);
    },
    observeRateLimits(read) {
      readRateLimits = read;
    },
  };
}
