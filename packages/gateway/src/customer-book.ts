import { isPostgresUrl, redactUrl, SetupError } from '@meadow/protocol';
import type { CustomerRow, CustomerUsage, Plan } from './customer-store.ts';
import { CustomerStore } from './customer-store.ts';
import type { CustomerDirectory, CustomerRecord } from './customers.ts';
import type { TunnelFailure } from './recent-failures.ts';

type Awaitable<T> = T | Promise<T>;

/**
 * A gateway's customers, their plans and usage. Reads are synchronous (every tunnel asks them);
 * changes may be asynchronous. Two kinds: a SQLite file for one gateway (`CustomerStore`), and a
 * PostgreSQL database that several gateways share (`PostgresCustomerStore`), read from a copy in
 * memory that each `flush` brings up to date.
 */
export interface CustomerBook extends CustomerDirectory {
  readonly kind: 'sqlite' | 'postgres';
  find(name: string): CustomerRow | undefined;
  list(): CustomerRow[];
  /** Usage stored so far, plus what this process has recorded and not yet written. */
  usage(name: string): CustomerUsage;
  recordUsage(name: string, usage: CustomerUsage): void;
  add(name: string, plan?: Partial<Plan>): Awaitable<{ apiKey: string; customer: CustomerRow }>;
  rotateKey(name: string): Awaitable<string | undefined>;
  setPlan(name: string, plan: Partial<Plan>): Awaitable<boolean>;
  setDisabled(name: string, disabled: boolean): Awaitable<boolean>;
  upsert(record: CustomerRecord, plan?: Partial<Plan>): Awaitable<void>;
  /** Writes recorded usage (a shared store also reads what others changed); true if it wrote any. */
  flush(): Awaitable<boolean>;
  close(): Awaitable<void>;
  /**
   * Called with the bytes other gateways booked for a customer since the last flush, so that a
   * quota shared by several gateways counts them: only a shared store calls it.
   */
  onForeignUsage?: (name: string, bytes: number) => void;
  /** A shared store keeps the tunnels that failed at every gateway: this one's are written with the next flush. */
  recordFailure?(name: string, failure: TunnelFailure): void;
  /** The customer's last `limit` failures at every gateway sharing the store, newest first. */
  recentFailures?(name: string, limit: number): Promise<TunnelFailure[]>;
}

/** A SQLite file path, or a postgres:// URL for a store shared by several gateways. */
export async function openCustomerBook(location: string): Promise<CustomerBook> {
  try {
    if (!isPostgresUrl(location)) return new CustomerStore(location);
    // Loaded only here: a gateway on SQLite never loads `pg`.
    const { PostgresCustomerStore } = await import('./postgres-customer-store.ts');
    return await PostgresCustomerStore.open(location);
  } catch (err) {
    throw new SetupError('customerStore', `cannot open ${redactUrl(location)}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
