import { EventEmitter } from 'node:events';
import { type LedgerStore, StoreConflictError } from '@meadow/ledger';
import { MeadowError } from '@meadow/protocol';
import type { Logger } from 'pino';
import type { Counter, Gauge } from 'prom-client';

export type MeteringStore = 'usage' | 'ledger' | 'sessions' | 'meters';

/**
 * Fail safe for accounting: when a store that meters traffic cannot write (a full disk, a lost
 * database), the gateway stops carrying traffic rather than carry it unmetered. It refuses new
 * tunnels with MEADOW_ERR_METERING_UNAVAILABLE and emits 'unavailable' so open ones are ended;
 * the writes that failed stay pending and are retried, and the first one that succeeds lifts it.
 */
export class MeteringGuard extends EventEmitter<{ unavailable: [MeadowError]; available: [] }> {
  private readonly failing = new Map<MeteringStore, string>();
  private readonly log: Logger;
  private readonly metrics: { failures: Counter<'store'>; available: Gauge };

  constructor(deps: { logger: Logger; metrics: { failures: Counter<'store'>; available: Gauge } }) {
    super();
    this.log = deps.logger;
    this.metrics = deps.metrics;
    this.metrics.available.set(1);
  }

  get available(): boolean {
    return this.failing.size === 0;
  }

  /** Why new tunnels are refused now, or undefined. */
  refusal(): MeadowError | undefined {
    if (this.failing.size === 0) return undefined;
    const [store, message] = [...this.failing][0] as [MeteringStore, string];
    return new MeadowError(
      'MEADOW_ERR_METERING_UNAVAILABLE',
      `the gateway cannot record usage (${store} store: ${message}); it carries no traffic until it can`,
    );
  }

  failed(store: MeteringStore, err: Error): void {
    this.metrics.failures.inc({ store });
    const wasAvailable = this.failing.size === 0;
    if (!this.failing.has(store))
      this.log.error({ store, err: err.message }, 'metering store cannot write: refusing traffic until it can');
    this.failing.set(store, err.message);
    if (wasAvailable) {
      this.metrics.available.set(0);
      this.emit('unavailable', this.refusal() as MeadowError);
    }
  }

  succeeded(store: MeteringStore): void {
    if (!this.failing.delete(store)) return;
    this.log.warn({ store }, 'metering store writes again');
    if (this.failing.size === 0) {
      this.metrics.available.set(1);
      this.emit('available');
    }
  }
}

/** The ledger store, reporting each append's outcome to the guard (a refused fork is not a failure). */
export function guardedLedgerStore(store: LedgerStore, guard: MeteringGuard): LedgerStore {
  const report = async (write: () => Promise<void>): Promise<void> => {
    try {
      await write();
      guard.succeeded('ledger');
    } catch (err) {
      if (!(err instanceof StoreConflictError)) guard.failed('ledger', err as Error);
      throw err;
    }
  };
  return {
    kind: store.kind,
    head: (gateway) => store.head(gateway),
    lastOfKind: (gateway, kind) => store.lastOfKind(gateway, kind),
    recentOfKind: (gateway, kind, limit) => store.recentOfKind(gateway, kind, limit),
    append: (entry) => report(() => store.append(entry)),
    appendMany: (entries) => report(() => store.appendMany(entries)),
    entries: (options) => store.entries(options),
    gateways: () => store.gateways(),
    close: () => store.close(),
  };
}
