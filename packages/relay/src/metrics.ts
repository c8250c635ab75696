import type { RelayState } from '@meadow/discovery';
import { RECEIPT_RESULT_LABELS } from '@meadow/ledger';
import { TUNNEL_ERROR_REASONS } from '@meadow/protocol';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { TargetResolver } from './target-resolver.ts';

const STATES: RelayState[] = ['serving', 'paused', 'hibernating', 'outside-schedule'];

export interface RelayMetrics {
  tunnels: Counter<'result'>;
  bytes: Counter<'direction'>;
  refusals: Counter<'reason'>;
  /** Failed runs of the background tasks, by task (`RELAY_TASKS`). */
  taskFailures: Counter<'task'>;
  activeTunnels: Gauge;
  gatewayLinks: Gauge;
  gatewayTrials: Counter;
  /** Receipt requests answered, as `receiptResultLabel` names them. */
  receipts: Counter<'result'>;
  /** The rate ceiling while the relay makes room for the household's own traffic (0: none). */
  yieldCeiling: Gauge;
  /** Queueing delay on the household's line, as the last yield round measured it. */
  lineQueueDelay: Gauge;
  setState(state: RelayState): void;
  /** Reads rate-limit waits from the household controls at scrape time. */
  observeRateLimits(read: () => { waits: number; waitedSeconds: number }): void;
  /** Reads the DNS resolver's counts at scrape time and times its queries. */
  observeDns(dns: TargetResolver): void;
}

/** The relay's background tasks, as the `task` label of their failure counter. */
export const RELAY_TASKS = ['publish_descriptor', 'find_gateways'] as const;

/**
 * The series alerts read, present at 0 from the start: `increase()` cannot see a series' first
 * sample, so an error that first happens once would otherwise never raise its alert.
 */
function zeroed<T extends string>(counter: Counter<T>, series: Array<Partial<Record<T, string>>>): Counter<T> {
  for (const labels of series) counter.inc(labels, 0);
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
  let dns: TargetResolver | undefined;
  new Counter({
    name: 'meadow_relay_dns_lookups_total',
    help: 'Address lookups for tunnels, per address family, by source: cache, shared (a query already under way), query',
    labelNames: ['source'],
    registers: [registry],
    collect() {
      if (dns == null) return;
      this.reset();
      this.inc({ source: 'cache' }, dns.stats.fromCache);
      this.inc({ source: 'shared' }, dns.stats.joined);
      this.inc(
        { source: 'query' },
        Object.values(dns.stats.queries).reduce((a, b) => a + b, 0),
      );
    },
  });
  new Counter({
    name: 'meadow_relay_dns_queries_total',
    help: 'Queries sent to DNS servers, by result: answered, not_found (the name or family does not exist), failed (timeout, server failure)',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      if (dns == null) return;
      this.reset();
      for (const [result, n] of Object.entries(dns.stats.queries)) this.inc({ result }, n);
    },
  });
  new Gauge({
    name: 'meadow_relay_dns_cache_entries',
    help: 'Answers (one per name and address family) the relay keeps in its DNS cache now',
    registers: [registry],
    collect() {
      this.set(dns?.cacheEntries ?? 0);
    },
  });
  new Gauge({
    name: 'meadow_relay_dns_servers_answering',
    help: "1 while the relay's DNS servers answer; 0 once they have been silent for a while (tunnels to names then go to other relays)",
    registers: [registry],
    collect() {
      this.set(dns == null || dns.health.answering ? 1 : 0);
    },
  });
  const dnsQuerySeconds = new Histogram({
    name: 'meadow_relay_dns_query_duration_seconds',
    help: 'Time a DNS server took to answer a query (or the query to fail)',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  return {
    tunnels: zeroed(
      new Counter({
        name: 'meadow_relay_tunnels_total',
        help: 'Tunnel requests by outcome (ok or the error code that ended them)',
        labelNames: ['result'],
        registers: [registry],
      }),
      ['ok', ...Object.values(TUNNEL_ERROR_REASONS)].map((result) => ({ result })),
    ),
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
      RELAY_TASKS.map((task) => ({ task })),
    ),
    activeTunnels: new Gauge({ name: 'meadow_relay_active_tunnels', help: 'Tunnels open now', registers: [registry] }),
    gatewayLinks: new Gauge({
      name: 'meadow_relay_gateway_links',
      help: 'Gateways this relay is linked to now',
      registers: [registry],
    }),
    gatewayTrials: zeroed(
      new Counter({
        name: 'meadow_relay_gateway_trials_total',
        help: 'Gateways tried beside those kept (gateways.trialEveryMs), by outcome: stayed (another group was let go, or none had to be), let_go, or lost (its link closed during the trial)',
        labelNames: ['outcome'],
        registers: [registry],
      }),
      [{ outcome: 'stayed' }, { outcome: 'let_go' }, { outcome: 'lost' }],
    ),
    receipts: zeroed(
      new Counter({
        name: 'meadow_relay_receipts_total',
        help: 'Receipt requests from gateways by result: signed, signed_under_protest, disputed, settled, refused_<reason>',
        labelNames: ['result'],
        registers: [registry],
      }),
      RECEIPT_RESULT_LABELS.map((result) => ({ result })),
    ),
    yieldCeiling: new Gauge({
      name: 'meadow_relay_yield_ceiling_bytes_per_second',
      help: "The ceiling on what the relay sends its gateways while it makes room for the household's own traffic (0: not yielding)",
      registers: [registry],
    }),
    lineQueueDelay: new Gauge({
      name: 'meadow_relay_line_queue_delay_seconds',
      help: "Queueing delay on the household's line: a ping to a gateway beyond the lowest of the last ten minutes",
      registers: [registry],
    }),
    setState(current) {
      for (const s of STATES) state.set({ state: s }, s === current ? 1 : 0);
    },
    observeRateLimits(read) {
      readRateLimits = read;
    },
    observeDns(resolver) {
      dns = resolver;
      resolver.stats.onQuery = (seconds) => dnsQuerySeconds.observe(seconds);
    },
  };
}
