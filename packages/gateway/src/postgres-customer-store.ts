import { createPostgresSchema, inPostgresTransaction } from '@meadow/ledger';
import pg from 'pg';
import type { CustomerBook } from './customer-book.ts';
import {
  type CustomerRow,
  type CustomerUsage,
  clientsColumn,
  DEFAULT_PLAN,
  newApiKey,
  type Plan,
  toRow,
} from './customer-store.ts';
import { type CustomerRecord, hashApiKey } from './customers.ts';
import { RECENT_FAILURES, type TunnelFailure } from './recent-failures.ts';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS customers (
    name_key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    api_key_sha256 TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT false,
    price_micros_per_gb BIGINT NOT NULL,
    quota_bytes BIGINT,
    max_tunnels INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    tx BIGINT NOT NULL DEFAULT txid_current()
  );
  ALTER TABLE customers ADD COLUMN IF NOT EXISTS allowed_clients TEXT;
  CREATE INDEX IF NOT EXISTS customers_tx ON customers (tx);
  CREATE TABLE IF NOT EXISTS customer_usage (
    name_key TEXT PRIMARY KEY,
    tunnels BIGINT NOT NULL DEFAULT 0,
    bytes_to_target BIGINT NOT NULL DEFAULT 0,
    bytes_from_target BIGINT NOT NULL DEFAULT 0,
    tx BIGINT NOT NULL DEFAULT txid_current()
  );
  CREATE INDEX IF NOT EXISTS customer_usage_tx ON customer_usage (tx);
  CREATE TABLE IF NOT EXISTS customer_failures (
    id BIGSERIAL PRIMARY KEY,
    name_key TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    failure JSONB NOT NULL
  );
  CREATE INDEX IF NOT EXISTS customer_failures_recent ON customer_failures (name_key, at DESC, id DESC);
`;

const PLAN_COLUMNS: Record<keyof Plan, string> = {
  priceMicrosPerGb: 'price_micros_per_gb',
  quotaBytes: 'quota_bytes',
  maxTunnels: 'max_tunnels',
  allowedClients: 'allowed_clients',
};

const ZERO: Readonly<CustomerUsage> = { tunnels: 0, bytesToTarget: 0, bytesFromTarget: 0 };

/**
 * Customers in a PostgreSQL database shared by several gateways (and `meadow customer`). A gateway
 * reads from a copy in memory, so a tunnel never waits for the database; `flush`, once a second,
 * adds this gateway's recorded usage to the shared totals (atomic increments: gateways never
 * overwrite each other) and reads back the customers and totals that changed. So a change made
 * anywhere reaches every gateway within about two seconds, as with SQLite.
 */
export class PostgresCustomerStore implements CustomerBook {
  readonly kind = 'postgres';
  onForeignUsage?: (name: string, bytes: number) => void;
  private readonly pool: pg.Pool;
  private customers = new Map<string, CustomerRow>();
  private totals = new Map<string, CustomerUsage>();
  private pending = new Map<string, CustomerUsage>();
  /** Failures recorded here and not written yet: the newest RECENT_FAILURES per customer. */
  private pendingFailures = new Map<string, TunnelFailure[]>();
  /** Usage taken from `pending` by a flush under way: still counted until the new totals are read. */
  private writing = new Map<string, CustomerUsage>();
  /** The flush under way: a flush asked for meanwhile waits for it instead of starting another. */
  private flushing: Promise<boolean> | undefined;
  private loaded = false;
  /**
   * Rows are stamped with the transaction that last wrote them (`tx`). A read asks only for rows
   * stamped at or after the oldest transaction still running at the previous read: every write
   * committed since then is among them, whatever order the writers committed in, so a gateway
   * reads what changed, not every customer, each second.
   */
  private since = '0';

  private constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  static async open(connectionString: string): Promise<PostgresCustomerStore> {
    // A database that hangs must fail the flush (and so refuse traffic), not keep it waiting unmetered.
    const pool = new pg.Pool({ connectionString, max: 2, connectionTimeoutMillis: 5_000, query_timeout: 10_000 });
    // An idle client the server dropped would otherwise be an unhandled 'error' that ends the process.
    pool.on('error', () => {});
    const store = new PostgresCustomerStore(pool);
    try {
      await createPostgresSchema(pool, 'meadow-customers-schema', SCHEMA);
      await store.read();
    } catch (err) {
      await pool.end();
      throw err;
    }
    return store;
  }

  find(name: string): CustomerRow | undefined {
    return this.customers.get(name.toLowerCase());
  }

  list(): CustomerRow[] {
    return [...this.customers.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  usage(name: string): CustomerUsage {
    const key = name.toLowerCase();
    const sum = { ...(this.totals.get(key) ?? ZERO) };
    for (const part of [this.writing.get(key), this.pending.get(key)]) {
      if (part == null) continue;
      sum.tunnels += part.tunnels;
      sum.bytesToTarget += part.bytesToTarget;
      sum.bytesFromTarget += part.bytesFromTarget;
    }
    return sum;
  }

  recordUsage(name: string, usage: CustomerUsage): void {
    addTo(this.pending, name.toLowerCase(), usage);
  }

  recordFailure(name: string, failure: TunnelFailure): void {
    keepRecent(this.pendingFailures, name.toLowerCase(), [failure]);
  }

  async recentFailures(name: string, limit: number): Promise<TunnelFailure[]> {
    const key = name.toLowerCase();
    const { rows } = await this.pool.query(
      'SELECT failure FROM customer_failures WHERE name_key = $1 ORDER BY at DESC, id DESC LIMIT $2',
      [key, limit],
    );
    // This gateway's failures since the last flush are not in the table yet.
    return [...(this.pendingFailures.get(key) ?? []), ...rows.map((r) => r.failure as TunnelFailure)]
      .sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0))
      .slice(0, limit);
  }

  async add(name: string, plan: Partial<Plan> = {}): Promise<{ apiKey: string; customer: CustomerRow }> {
    const apiKey = newApiKey();
    const p = { ...DEFAULT_PLAN, ...plan };
    const { rows } = await this.pool.query(
      `INSERT INTO customers (name_key, name, api_key_sha256, disabled, price_micros_per_gb, quota_bytes, max_tunnels, created_at, allowed_clients)
       VALUES ($1, $2, $3, false, $4, $5, $6, $7, $8) ON CONFLICT (name_key) DO NOTHING RETURNING *`,
      [
        name.toLowerCase(),
        name,
        hashApiKey(apiKey),
        p.priceMicrosPerGb,
        p.quotaBytes,
        p.maxTunnels,
        now(),
        clientsColumn(p.allowedClients),
      ],
    );
    if (rows[0] == null) throw new Error(`customer "${name}" already exists`);
    return { apiKey, customer: this.keep(rows[0]) };
  }

  async rotateKey(name: string): Promise<string | undefined> {
    const apiKey = newApiKey();
    const row = await this.update(name, { api_key_sha256: hashApiKey(apiKey) });
    return row == null ? undefined : apiKey;
  }

  async setPlan(name: string, plan: Partial<Plan>): Promise<boolean> {
    const changes: Record<string, unknown> = {};
    for (const [key, column] of Object.entries(PLAN_COLUMNS))
      if (key in plan)
        changes[column] =
          key === 'allowedClients' ? clientsColumn(plan.allowedClients ?? null) : (plan[key as keyof Plan] ?? null);
    return (await this.update(name, changes)) != null;
  }

  async setDisabled(name: string, disabled: boolean): Promise<boolean> {
    return (await this.update(name, { disabled })) != null;
  }

  async upsert(record: CustomerRecord, plan: Partial<Plan> = {}): Promise<void> {
    const p = { ...DEFAULT_PLAN, ...plan };
    const { rows } = await this.pool.query(
      `INSERT INTO customers (name_key, name, api_key_sha256, disabled, price_micros_per_gb, quota_bytes, max_tunnels, created_at, allowed_clients)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (name_key) DO UPDATE SET api_key_sha256 = excluded.api_key_sha256, disabled = excluded.disabled,
         price_micros_per_gb = excluded.price_micros_per_gb, quota_bytes = excluded.quota_bytes,
         max_tunnels = excluded.max_tunnels, allowed_clients = excluded.allowed_clients, tx = txid_current()
       RETURNING *`,
      [
        record.name.toLowerCase(),
        record.name,
        record.apiKeySha256,
        record.disabled === true,
        p.priceMicrosPerGb,
        p.quotaBytes,
        p.maxTunnels,
        now(),
        clientsColumn(p.allowedClients),
      ],
    );
    this.keep(rows[0]);
  }

  /**
   * Adds the recorded usage to the shared totals in one statement, then reads the customers and
   * totals that changed. On failure nothing recorded is lost: it is written with the next flush.
   */
  flush(): Promise<boolean> {
    if (this.flushing == null) {
      this.flushing = this.write().finally(() => {
        this.flushing = undefined;
      });
    }
    return this.flushing;
  }

  private async write(): Promise<boolean> {
    const batch = this.pending;
    this.pending = new Map();
    this.writing = batch;
    let committed = false;
    try {
      if (batch.size > 0) {
        // One statement for the whole batch: one round trip, however many customers were active.
        const keys = [...batch.keys()];
        const column = (pick: (u: CustomerUsage) => number) => keys.map((k) => pick(batch.get(k) as CustomerUsage));
        await this.pool.query(
          `INSERT INTO customer_usage (name_key, tunnels, bytes_to_target, bytes_from_target)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])
           ON CONFLICT (name_key) DO UPDATE SET tunnels = customer_usage.tunnels + excluded.tunnels,
             bytes_to_target = customer_usage.bytes_to_target + excluded.bytes_to_target,
             bytes_from_target = customer_usage.bytes_from_target + excluded.bytes_from_target,
             tx = txid_current()`,
          [keys, column((u) => u.tunnels), column((u) => u.bytesToTarget), column((u) => u.bytesFromTarget)],
        );
        committed = true;
      }
      await this.writeFailures();
      await this.read(batch);
      return batch.size > 0;
    } catch (err) {
      // Not written: it goes with the next flush. Written but not read back: counted in the totals.
      for (const [key, u] of batch) addTo(committed ? this.totals : this.pending, key, u);
      throw err;
    } finally {
      this.writing = new Map();
    }
  }

  /**
   * Appends the failures recorded since the last flush and drops each of those customers' rows
   * beyond the newest RECENT_FAILURES, so the table stays small however many tunnels fail.
   * Failures that could not be written are kept for the next flush, and `recentFailures` lists
   * them meanwhile: a list for diagnosis never stops the flush that meters usage.
   */
  private async writeFailures(): Promise<void> {
    if (this.pendingFailures.size === 0) return;
    const batch = this.pendingFailures;
    this.pendingFailures = new Map();
    const keys: string[] = [];
    const failures: TunnelFailure[] = [];
    for (const [key, list] of batch)
      for (const failure of list) {
        keys.push(key);
        failures.push(failure);
      }
    try {
      await inPostgresTransaction(this.pool, async (client) => {
        await client.query(
          `INSERT INTO customer_failures (name_key, at, failure)
           SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::jsonb[])`,
          [keys, failures.map((f) => f.at), failures.map((f) => JSON.stringify(f))],
        );
        await client.query(
          `DELETE FROM customer_failures WHERE id IN (
             SELECT id FROM (
               SELECT id, row_number() OVER (PARTITION BY name_key ORDER BY at DESC, id DESC) AS n
               FROM customer_failures WHERE name_key = ANY($1)
             ) ranked WHERE n > $2)`,
          [[...batch.keys()], RECENT_FAILURES],
        );
      });
    } catch {
      for (const [key, list] of batch) keepRecent(this.pendingFailures, key, list);
    }
  }

  async close(): Promise<void> {
    try {
      await this.flushing?.catch(() => {});
      await this.flush();
    } finally {
      await this.pool.end();
    }
  }

  /**
   * Reads the customers and usage totals written since the last read (`since`). Growth of a total beyond what this gateway just wrote
   * (`written`) was booked by another gateway, and is reported to `onForeignUsage`.
   */
  private async read(written = new Map<string, CustomerUsage>()): Promise<void> {
    const { xmin, customers, usage } = await inPostgresTransaction(this.pool, async (client) => {
      await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      // The first query takes the snapshot that the other two read from.
      const snapshot = await client.query('SELECT txid_snapshot_xmin(txid_current_snapshot())::text AS xmin');
      return {
        xmin: String(snapshot.rows[0].xmin),
        customers: await client.query('SELECT * FROM customers WHERE tx >= $1', [this.since]),
        usage: await client.query('SELECT * FROM customer_usage WHERE tx >= $1', [this.since]),
      };
    });
    const rows = this.customers;
    for (const raw of customers.rows) rows.set(String(raw.name_key), toRow(raw));
    const totals = this.totals;
    for (const raw of usage.rows) {
      const key = String(raw.name_key);
      const total: CustomerUsage = {
        tunnels: Number(raw.tunnels),
        bytesToTarget: Number(raw.bytes_to_target),
        bytesFromTarget: Number(raw.bytes_from_target),
      };
      const foreign = bytesOf(total) - bytesOf(totals.get(key)) - bytesOf(written.get(key));
      totals.set(key, total);
      if (foreign > 0 && this.loaded) this.onForeignUsage?.(rows.get(key)?.name ?? key, foreign);
    }
    this.since = xmin;
    this.loaded = true;
  }

  private async update(name: string, changes: Record<string, unknown>): Promise<CustomerRow | undefined> {
    const columns = Object.keys(changes);
    if (columns.length === 0) return this.find(name);
    const set = columns.map((column, i) => `${column} = $${i + 2}`).join(', ');
    const { rows } = await this.pool.query(
      `UPDATE customers SET ${set}, tx = txid_current() WHERE name_key = $1 RETURNING *`,
      [name.toLowerCase(), ...Object.values(changes)],
    );
    return rows[0] == null ? undefined : this.keep(rows[0]);
  }

  private keep(raw: Record<string, unknown>): CustomerRow {
    const row = toRow(raw);
    this.customers.set(row.name.toLowerCase(), row);
    return row;
  }
}

function addTo(map: Map<string, CustomerUsage>, key: string, usage: CustomerUsage): void {
  const entry = map.get(key) ?? { tunnels: 0, bytesToTarget: 0, bytesFromTarget: 0 };
  entry.tunnels += usage.tunnels;
  entry.bytesToTarget += usage.bytesToTarget;
  entry.bytesFromTarget += usage.bytesFromTarget;
  map.set(key, entry);
}

/** Adds `failures` (oldest first) to `key`'s list, keeping its newest RECENT_FAILURES. */
function keepRecent(map: Map<string, TunnelFailure[]>, key: string, failures: TunnelFailure[]): void {
  const list = [...(map.get(key) ?? []), ...failures].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  map.set(key, list.slice(-RECENT_FAILURES));
}

function bytesOf(usage: CustomerUsage | undefined): number {
  return usage == null ? 0 : usage.bytesToTarget + usage.bytesFromTarget;
}

function now(): string {
  return new Date().toISOString();
}
