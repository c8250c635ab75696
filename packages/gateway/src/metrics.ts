import { RECEIPT_RESULT_LABELS } from '@meadow/ledger';
import { ERROR_CODES } from '@meadow/protocol';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { LedgerMetrics } from './receipt-clerk.ts';
import { CLIENT_PROTOCOLS } from './tunnel-service.ts';

export interface GatewayMetrics {
  tunnels: Counter<'protocol' | 'result'>;
  setupSeconds: Histogram<'protocol'>;
  bytes: Counter<'direction'>;
  activeTunnels: Gauge<'protocol'>;
  retries: Counter;
  /** Sticky-session tunnels by what happened to the binding (see the metric's help). */
  sessions: Counter<'outcome'>;
  /** A shared (PostgreSQL) session store: how long each operation took, and which failed. */
  sessionStore: { seconds: Histogram<'operation'>; failures: Counter<'operation'> };
  authFailures: Counter<'protocol'>;
  /** Failed runs of the background tasks, by task (`GATEWAY_TASKS`). */
  taskFailures: Counter<'task'>;
  relayLinks: Gauge;
  evictions: Counter<'reason'>;
  relaysMoving: Counter;
  countryMismatches: Counter;
  ledger: LedgerMetrics;
  metering: { failures: Counter<'store'>; available: Gauge };
  /** Reads the routable pool per country at scrape time. */
  observePool(read: () => Record<string, number>): void;
  /** Reads when the https port's certificate expires at scrape time (undefined: no https port). */
  observeCertificateExpiry(read: () => Date | undefined): void;
}

/** What a request asks of the session store, as the `operation` label of its metrics. */
export const SESSION_STORE_OPERATIONS = ['lookup', 'claim', 'release'] as const;

/** The gateway's background tasks, as the `task` label of their failure counter. */
export const GATEWAY_TASKS = [
  'advertise',
  'announce_to_siblings',
  'refresh_descriptors',
  'health_check',
  'stall_check',
] as const;

/**
 * The series alerts read, present at 0 from the start: `increase()` cannot see a series' first
 * sample, so an error that first happens once would otherwise never raise its alert.
 */
function zeroed<T extends string>(counter: Counter<T>, series: Array<Partial<Record<T, string>>>): Counter<T> {
  for (const labels of series) counter.inc(labels, 0);
  return counter;
}

const TUNNEL_RESULTS = ['ok', ...Object.keys(ERROR_CODES)];

export function createGatewayMetrics(registry: Registry): GatewayMetrics {
  let readPool: () => Record<string, number> = () => ({});
  let readExpiry: () => Date | undefined = () => undefined;
  new Gauge({
    name: 'meadow_gateway_tls_certificate_expiry_timestamp_seconds',
    help: "When the https proxy port's TLS certificate expires (Unix time); no sample without an https port",
    registers: [registry],
    collect() {
      this.reset();
      const at = readExpiry();
      if (at != null) this.set(at.getTime() / 1000);
    },
  });
  new Gauge({
    name: 'meadow_gateway_relay_pool_size',
    help: 'Routable relays by country',
    labelNames: ['country'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [country, n] of Object.entries(readPool())) this.set({ country }, n);
    },
  });
  return {
    ledger: {
      receipts: zeroed(
        new Counter({
          name: 'meadow_gateway_receipts_total',
          help: 'Receipt proposals to relays by result: signed, signed_under_protest, disputed, refused_<reason>, failed, unreachable',
          labelNames: ['result'],
          registers: [registry],
        }),
        [...RECEIPT_RESULT_LABELS, 'failed', 'unreachable'].map((result) => ({ result })),
      ),
      epochs: new Counter({
        name: 'meadow_gateway_epochs_closed_total',
        help: 'Ledger epochs closed',
        registers: [registry],
      }),
      openEpoch: new Gauge({
        name: 'meadow_gateway_ledger_open_epoch',
        help: 'Number of the ledger epoch now open',
        registers: [registry],
      }),
      roundSeconds: new Histogram({
        name: 'meadow_gateway_receipt_round_seconds',
        help: 'Time to propose receipts to every relay that carried bytes since its last receipt',
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers: [registry],
      }),
      writtenOffBytes: new Counter({
        name: 'meadow_gateway_unsigned_bytes_written_off_total',
        help: 'Bytes relays carried but never co-signed, written off (never billed, never paid) once the relay stayed unreachable for ledger.writeOffUnsignedAfterSeconds',
        registers: [registry],
      }),
    },
    tunnels: zeroed(
      new Counter({
        name: 'meadow_gateway_tunnels_total',
        help: 'Tunnel requests by client protocol and outcome (ok or error code)',
        labelNames: ['protocol', 'result'],
        registers: [registry],
      }),
      CLIENT_PROTOCOLS.flatMap((protocol) => TUNNEL_RESULTS.map((result) => ({ protocol, result }))),
    ),
    setupSeconds: new Histogram({
      name: 'meadow_gateway_tunnel_setup_seconds',
      help: 'Time from a complete client request to the tunnel being up at the relay',
      labelNames: ['protocol'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    bytes: new Counter({
      name: 'meadow_gateway_payload_bytes_total',
      help: 'Payload bytes carried through tunnels, by direction (to_target, from_target)',
      labelNames: ['direction'],
      registers: [registry],
    }),
    activeTunnels: new Gauge({
      name: 'meadow_gateway_active_tunnels',
      help: 'Tunnels open now, by client protocol',
      labelNames: ['protocol'],
      registers: [registry],
    }),
    retries: new Counter({
      name: 'meadow_gateway_relay_retries_total',
      help: 'Tunnel opens retried on another relay after a relay-side failure',
      registers: [registry],
    }),
    sessions: new Counter({
      name: 'meadow_gateway_session_tunnels_total',
      help:
        'Tunnels of sticky sessions by what happened to the binding: bound (first tunnel), kept, ' +
        'kept_after_wait (the relay was full for a moment), elsewhere (full: this tunnel went through ' +
        'another relay, the session stayed), moved (its relay left or failed), refused (strict)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    sessionStore: {
      seconds: new Histogram({
        name: 'meadow_gateway_session_store_seconds',
        help: `Operations on a shared (PostgreSQL) sticky-session store, by operation (${SESSION_STORE_OPERATIONS.join(', ')}): one per request that names a session, one more to bind it`,
        labelNames: ['operation'],
        buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
        registers: [registry],
      }),
      failures: zeroed(
        new Counter({
          name: 'meadow_gateway_session_store_failures_total',
          help: 'Session store operations that failed, by operation; each failed the request that named a session with 503',
          labelNames: ['operation'],
          registers: [registry],
        }),
        SESSION_STORE_OPERATIONS.map((operation) => ({ operation })),
      ),
    },
    authFailures: zeroed(
      new Counter({
        name: 'meadow_gateway_auth_failures_total',
        help: 'Rejected proxy credentials, by client protocol',
        labelNames: ['protocol'],
        registers: [registry],
      }),
      CLIENT_PROTOCOLS.map((protocol) => ({ protocol })),
    ),
    taskFailures: zeroed(
      new Counter({
        name: 'meadow_gateway_background_task_failures_total',
        help: `Failed runs of the gateway's background tasks, by task (${GATEWAY_TASKS.join(', ')}); each is retried`,
        labelNames: ['task'],
        registers: [registry],
      }),
      GATEWAY_TASKS.map((task) => ({ task })),
    ),
    evictions: new Counter({
      name: 'meadow_gateway_relay_evictions_total',
      help: 'Relay links dropped or refused, by reason (ping, stalled, stale, no_descriptor, sybil_limit)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    relaysMoving: new Counter({
      name: 'meadow_gateway_relays_moving_total',
      help: 'Relays that said they are moving to another gateway (after a trial, this one carried the least through them)',
      registers: [registry],
    }),
    metering: {
      failures: new Counter({
        name: 'meadow_gateway_metering_write_failures_total',
        help: 'Failed writes to a store that meters traffic, by store (usage, ledger, sessions, meters)',
        labelNames: ['store'],
        registers: [registry],
      }),
      available: new Gauge({
        name: 'meadow_gateway_metering_available',
        help: '1 while every metering store writes; 0 while the gateway refuses traffic because one cannot',
        registers: [registry],
      }),
    },
    countryMismatches: new Counter({
      name: 'meadow_gateway_country_mismatches_total',
      help: 'Relays whose claimed country differs from the GeoIP country of their address',
      registers: [registry],
    }),
    observePool(read) {
      readPool = read;
    },
    observeCertificateExpiry(read) {
      readExpiry = read;
    },
    relayLinks: new Gauge({
      name: 'meadow_gateway_relay_links',
      help: 'Relays linked to this gateway now',
      registers: [registry],
    }),
  };
}
