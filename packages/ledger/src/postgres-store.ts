import pg from 'pg';
import { canonicalJson } from './canonical.ts';
import type { EntryKind, LedgerEntry } from './entries.ts';
import { createPostgresSchema, inPostgresTransaction } from './postgres-transaction.ts';
import { assertConsecutive, fromRow } from './sqlite-store.ts';
import type { LedgerStore } from './store.ts';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS ledger_entries (
    gateway TEXT NOT NULL,
    idx BIGINT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    PRIMARY KEY (gateway, idx)
  );
  CREATE INDEX IF NOT EXISTS ledger_entries_kind ON ledger_entries (gateway, kind, idx);
  CREATE OR REPLACE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'the ledger is append-only'; END $$;
  DROP TRIGGER IF EXISTS ledger_entries_append_only ON ledger_entries;
  CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_append_only();
`;

/**
 * The store for operators with several gateways: one PostgreSQL database shared by all of them.
 * Appends to one gateway's chain are serialised by a transaction-scoped advisory lock.
 */
export class PostgresLedgerStore implements LedgerStore {
  readonly kind = 'postgres';
  private readonly pool: pg.Pool;

  private constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  static async open(connectionString: string): Promise<PostgresLedgerStore> {
    const pool = new pg.Pool({ connectionString, max: 4 });
    try {
      await createPostgresSchema(pool, 'meadow-ledger-schema', SCHEMA);
    } catch (err) {
      await pool.end();
      throw err;
    }
    return new PostgresLedgerStore(pool);
  }

  async head(gateway: string): Promise<LedgerEntry | undefined> {
    const { rows } = await this.pool.query(
      'SELECT * FROM ledger_entries WHERE gateway = $1 ORDER BY idx DESC LIMIT 1',
      [gateway],
    );
    return rows[0] == null ? undefined : fromRow(rows[0]);
  }

  async lastOfKind(gateway: string, kind: EntryKind): Promise<LedgerEntry | undefined> {
    return (await this.recentOfKind(gateway, kind, 1))[0];
  }

  async recentOfKind(gateway: string, kind: EntryKind, limit: number): Promise<LedgerEntry[]> {
    const { rows } = await this.pool.query(
      'SELECT * FROM ledger_entries WHERE gateway = $1 AND kind = $2 ORDER BY idx DESC LIMIT $3',
      [gateway, kind, limit],
    );
    return rows.map(fromRow);
  }

  async append(entry: LedgerEntry): Promise<void> {
    await this.appendMany([entry]);
  }

  async appendMany(entries: LedgerEntry[]): Promise<void> {
    const first = entries[0];
    if (first == null) return;
    await inPostgresTransaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [first.gateway]);
      const { rows } = await client.query(
        'SELECT idx, hash FROM ledger_entries WHERE gateway = $1 ORDER BY idx DESC LIMIT 1',
        [first.gateway],
      );
      assertConsecutive(entries, rows[0] == null ? undefined : { idx: Number(rows[0].idx), hash: rows[0].hash });
      for (const e of entries) {
        await client.query(
          'INSERT INTO ledger_entries (gateway, idx, kind, body, prev, hash) VALUES ($1, $2, $3, $4, $5, $6)',
          [e.gateway, e.index, e.kind, canonicalJson(e.body), e.prev, e.hash],
        );
      }
    });
  }

  async *entries(
    options: { gateway?: string; fromIndex?: number; batchSize?: number } = {},
  ): AsyncIterable<LedgerEntry> {
    const batch = options.batchSize ?? 1_000;
    const gateways = options.gateway == null ? await this.gateways() : [options.gateway];
    for (const gateway of gateways) {
      let from = options.fromIndex ?? 0;
      for (;;) {
        const { rows } = await this.pool.query(
          'SELECT * FROM ledger_entries WHERE gateway = $1 AND idx >= $2 ORDER BY idx LIMIT $3',
          [gateway, from, batch],
        );
        for (const row of rows) yield fromRow(row);
        if (rows.length < batch) break;
        from = Number(rows.at(-1).idx) + 1;
      }
    }
  }

  async gateways(): Promise<string[]> {
    const { rows } = await this.pool.query('SELECT DISTINCT gateway FROM ledger_entries ORDER BY gateway');
    return rows.map((r) => r.gateway as string);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
