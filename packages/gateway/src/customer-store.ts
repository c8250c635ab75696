import { randomBytes } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import type { CustomerBook } from './customer-book.ts';
import { type CustomerRecord, hashApiKey } from './customers.ts';
import { inTransaction, openDatabase } from './sqlite.ts';

export interface Plan {
  /** Price per GB (10^9 bytes) in micro-units of the settlement currency. */
  priceMicrosPerGb: number;
  /** Bytes the customer may move in total (both directions); null = unlimited. */
  quotaBytes: number | null;
  maxTunnels: number;
  /** Networks the API key may be used from ("203.0.113.0/24"); null = anywhere. */
  allowedClients: string[] | null;
}

export const DEFAULT_PLAN: Plan = {
  priceMicrosPerGb: 1_000_000,
  quotaBytes: null,
  maxTunnels: 256,
  allowedClients: null,
};

export interface CustomerUsage {
  tunnels: number;
  bytesToTarget: number;
  bytesFromTarget: number;
}

export interface CustomerRow extends Plan {
  name: string;
  apiKeySha256: string;
  disabled: boolean;
  createdAt: string;
}

/**
 * Customers and their usage in SQLite (node:sqlite). API keys are stored only as SHA-256 hashes.
 * Usage is buffered in memory and written once a second (and at close).
 */
export class CustomerStore implements CustomerBook {
  readonly kind = 'sqlite';
  private readonly db: DatabaseSync;
  private readonly pending = new Map<string, CustomerUsage>();
  private readonly cache = new Map<string, { row: CustomerRow | undefined; at: number }>();

  constructor(path: string) {
    this.db = openDatabase(
      path,
      `
      CREATE TABLE IF NOT EXISTS customers (
        name TEXT PRIMARY KEY COLLATE NOCASE,
        api_key_sha256 TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        price_micros_per_gb INTEGER NOT NULL,
        quota_bytes INTEGER,
        max_tunnels INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        allowed_clients TEXT
      );
      CREATE TABLE IF NOT EXISTS customer_usage (
        name TEXT PRIMARY KEY COLLATE NOCASE,
        tunnels INTEGER NOT NULL DEFAULT 0,
        bytes_to_target INTEGER NOT NULL DEFAULT 0,
        bytes_from_target INTEGER NOT NULL DEFAULT 0
      );
    `,
    );
    // Databases from before the allowed networks existed.
    const columns = this.db.prepare('PRAGMA table_info(customers)').all() as Array<{ name: string }>;
    if (!columns.some((c) => c.name === 'allowed_clients'))
      this.db.exec('ALTER TABLE customers ADD COLUMN allowed_clients TEXT');
  }

  /** Creates a customer with a fresh API key; the key is returned once and never stored. */
  add(name: string, plan: Partial<Plan> = {}): { apiKey: string; customer: CustomerRow } {
    const apiKey = newApiKey();
    if (this.find(name) != null) throw new Error(`customer "${name}" already exists`);
    this.upsert({ name, apiKeySha256: hashApiKey(apiKey) }, plan);
    return { apiKey, customer: this.find(name) as CustomerRow };
  }

  /** Gives a customer a fresh API key; the old one stops working on a running gateway within two seconds. Undefined if unknown. */
  rotateKey(name: string): string | undefined {
    const apiKey = newApiKey();
    const result = this.db
      .prepare('UPDATE customers SET api_key_sha256 = ? WHERE name = ?')
      .run(hashApiKey(apiKey), name);
    this.cache.delete(name.toLowerCase());
    return result.changes > 0 ? apiKey : undefined;
  }

  /** Changes part of a customer's plan; false if there is no such customer. */
  setPlan(name: string, plan: Partial<Plan>): boolean {
    this.cache.delete(name.toLowerCase()); // the parts not changed come from the row as stored now
    const row = this.find(name);
    if (row == null) return false;
    const p = {
      priceMicrosPerGb: row.priceMicrosPerGb,
      quotaBytes: row.quotaBytes,
      maxTunnels: row.maxTunnels,
      allowedClients: row.allowedClients,
      ...plan,
    };
    this.db
      .prepare(
        'UPDATE customers SET price_micros_per_gb = ?, quota_bytes = ?, max_tunnels = ?, allowed_clients = ? WHERE name = ?',
      )
      .run(p.priceMicrosPerGb, p.quotaBytes, p.maxTunnels, clientsColumn(p.allowedClients), name);
    this.cache.delete(name.toLowerCase());
    return true;
  }

  /** Inserts or updates a customer whose key hash is already known (customers listed in the gateway config). */
  upsert(record: CustomerRecord, plan: Partial<Plan> = {}): void {
    const p = { ...DEFAULT_PLAN, ...plan };
    this.db
      .prepare(
        `INSERT INTO customers (name, api_key_sha256, disabled, price_micros_per_gb, quota_bytes, max_tunnels, created_at, allowed_clients)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET api_key_sha256 = excluded.api_key_sha256, disabled = excluded.disabled,
           price_micros_per_gb = excluded.price_micros_per_gb, quota_bytes = excluded.quota_bytes, max_tunnels = excluded.max_tunnels,
           allowed_clients = excluded.allowed_clients`,
      )
      .run(
        record.name,
        record.apiKeySha256,
        record.disabled === true ? 1 : 0,
        p.priceMicrosPerGb,
        p.quotaBytes,
        p.maxTunnels,
        new Date().toISOString(),
        clientsColumn(p.allowedClients),
      );
    this.cache.delete(record.name.toLowerCase());
  }

  /** Looks a customer up; cached for a second so a running gateway sees CLI changes promptly. */
  find(name: string): CustomerRow | undefined {
    const key = name.toLowerCase();
    const cached = this.cache.get(key);
    if (cached != null && Date.now() - cached.at < 1_000) return cached.row;
    const raw = this.db.prepare('SELECT * FROM customers WHERE name = ?').get(name) as
      | Record<string, unknown>
      | undefined;
    const row = raw == null ? undefined : toRow(raw);
    this.cache.set(key, { row, at: Date.now() });
    return row;
  }

  list(): CustomerRow[] {
    return (this.db.prepare('SELECT * FROM customers ORDER BY name').all() as Array<Record<string, unknown>>).map(
      toRow,
    );
  }

  setDisabled(name: string, disabled: boolean): boolean {
    const result = this.db.prepare('UPDATE customers SET disabled = ? WHERE name = ?').run(disabled ? 1 : 0, name);
    this.cache.delete(name.toLowerCase());
    return result.changes > 0;
  }

  recordUsage(name: string, usage: CustomerUsage): void {
    const key = name.toLowerCase(); // names are case-insensitive, as in the table
    const entry = this.pending.get(key) ?? { tunnels: 0, bytesToTarget: 0, bytesFromTarget: 0 };
    entry.tunnels += usage.tunnels;
    entry.bytesToTarget += usage.bytesToTarget;
    entry.bytesFromTarget += usage.bytesFromTarget;
    this.pending.set(key, entry);
  }

  /** Stored usage plus what is buffered. */
  usage(name: string): CustomerUsage {
    const row = this.db
      .prepare('SELECT tunnels, bytes_to_target, bytes_from_target FROM customer_usage WHERE name = ?')
      .get(name) as { tunnels: number; bytes_to_target: number; bytes_from_target: number } | undefined;
    const pending = this.pending.get(name.toLowerCase());
    return {
      tunnels: (row?.tunnels ?? 0) + (pending?.tunnels ?? 0),
      bytesToTarget: (row?.bytes_to_target ?? 0) + (pending?.bytesToTarget ?? 0),
      bytesFromTarget: (row?.bytes_from_target ?? 0) + (pending?.bytesFromTarget ?? 0),
    };
  }

  /** Writes buffered usage in one transaction; true if there was something to write. */
  flush(): boolean {
    if (this.pending.size === 0) return false;
    const upsert = this.db.prepare(
      `INSERT INTO customer_usage (name, tunnels, bytes_to_target, bytes_from_target) VALUES (?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET tunnels = tunnels + excluded.tunnels,
         bytes_to_target = bytes_to_target + excluded.bytes_to_target, bytes_from_target = bytes_from_target + excluded.bytes_from_target`,
    );
    inTransaction(this.db, () => {
      for (const [name, u] of this.pending) upsert.run(name, u.tunnels, u.bytesToTarget, u.bytesFromTarget);
    });
    this.pending.clear();
    return true;
  }

  /** Writes what is buffered and closes; the database is closed even when that last write fails. */
  close(): void {
    try {
      this.flush();
    } finally {
      this.db.close();
    }
  }
}

/** 32 characters of base64url: 192 random bits after the `mdw_` prefix that makes a leaked key easy to spot. */
export function newApiKey(): string {
  return `mdw_${randomBytes(24).toString('base64url')}`;
}

/** The allowed networks as stored (a JSON array, or NULL for anywhere), in both stores. */
export function clientsColumn(list: string[] | null): string | null {
  return list == null ? null : JSON.stringify(list);
}

/** A customers row of either store (SQLite's booleans are 0/1, PostgreSQL's are booleans). */
export function toRow(raw: Record<string, unknown>): CustomerRow {
  return {
    name: String(raw.name),
    apiKeySha256: String(raw.api_key_sha256),
    disabled: raw.disabled === 1 || raw.disabled === true,
    priceMicrosPerGb: Number(raw.price_micros_per_gb),
    quotaBytes: raw.quota_bytes == null ? null : Number(raw.quota_bytes),
    maxTunnels: Number(raw.max_tunnels),
    allowedClients: raw.allowed_clients == null ? null : (JSON.parse(String(raw.allowed_clients)) as string[]),
    createdAt: String(raw.created_at),
  };
}
