import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { canonicalJson } from './canonical.ts';
import type { EntryKind, LedgerEntry } from './entries.ts';
import { type LedgerStore, StoreConflictError } from './store.ts';

interface Row {
  gateway: string;
  idx: number;
  kind: string;
  body: string;
  prev: string;
  hash: string;
}

const SCHEMA = `
  PRAGMA journal_mode = WAL;
  PRAGMA synchronous = FULL;
  PRAGMA busy_timeout = 5000;
  CREATE TABLE IF NOT EXISTS ledger_entries (
    gateway TEXT NOT NULL,
    idx INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    PRIMARY KEY (gateway, idx)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS ledger_entries_kind ON ledger_entries (gateway, kind, idx);
  CREATE TRIGGER IF NOT EXISTS ledger_entries_no_update BEFORE UPDATE ON ledger_entries
    BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
  CREATE TRIGGER IF NOT EXISTS ledger_entries_no_delete BEFORE DELETE ON ledger_entries
    BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
`;

/** The default store: one SQLite file (node:sqlite), WAL, fsync on every commit. */
export class SqliteLedgerStore implements LedgerStore {
  readonly kind = 'sqlite';
  private readonly db: DatabaseSync;

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.db = new DatabaseSync(path);
    this.db.exec(SCHEMA);
  }

  async head(gateway: string): Promise<LedgerEntry | undefined> {
    const row = this.db
      .prepare('SELECT * FROM ledger_entries WHERE gateway = ? ORDER BY idx DESC LIMIT 1')
      .get(gateway) as Row | undefined;
    return row == null ? undefined : fromRow(row);
  }

  async lastOfKind(gateway: string, kind: EntryKind): Promise<LedgerEntry | undefined> {
    return (await this.recentOfKind(gateway, kind, 1))[0];
  }

  async recentOfKind(gateway: string, kind: EntryKind, limit: number): Promise<LedgerEntry[]> {
    const rows = this.db
      .prepare('SELECT * FROM ledger_entries WHERE gateway = ? AND kind = ? ORDER BY idx DESC LIMIT ?')
      .all(gateway, kind, limit) as unknown as Row[];
    return rows.map(fromRow);
  }

  async append(entry: LedgerEntry): Promise<void> {
    await this.appendMany([entry]);
  }

  async appendMany(entries: LedgerEntry[]): Promise<void> {
    const first = entries[0];
    if (first == null) return;
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const head = this.db
        .prepare('SELECT idx, hash FROM ledger_entries WHERE gateway = ? ORDER BY idx DESC LIMIT 1')
        .get(first.gateway) as { idx: number; hash: string } | undefined;
      assertConsecutive(entries, head);
      const insert = this.db.prepare(
        'INSERT INTO ledger_entries (gateway, idx, kind, body, prev, hash) VALUES (?, ?, ?, ?, ?, ?)',
      );
      for (const e of entries) insert.run(e.gateway, e.index, e.kind, canonicalJson(e.body), e.prev, e.hash);
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  async *entries(
    options: { gateway?: string; fromIndex?: number; batchSize?: number } = {},
  ): AsyncIterable<LedgerEntry> {
    const batch = options.batchSize ?? 1_000;
    const gateways = options.gateway == null ? await this.gateways() : [options.gateway];
    const page = this.db.prepare('SELECT * FROM ledger_entries WHERE gateway = ? AND idx >= ? ORDER BY idx LIMIT ?');
    for (const gateway of gateways) {
      let from = options.fromIndex ?? 0;
      for (;;) {
        const rows = page.all(gateway, from, batch) as unknown as Row[];
        for (const row of rows) yield fromRow(row);
        if (rows.length < batch) break;
        from = (rows.at(-1) as Row).idx + 1;
      }
    }
  }

  async gateways(): Promise<string[]> {
    const rows = this.db.prepare('SELECT DISTINCT gateway FROM ledger_entries ORDER BY gateway').all() as unknown as {
      gateway: string;
    }[];
    return rows.map((r) => r.gateway);
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }
}

/** The entries extend the stored head of their (one) gateway's chain, each linked to the one before. */
export function assertConsecutive(entries: LedgerEntry[], head: { idx: number; hash: string } | undefined): void {
  let expected =
    head == null
      ? { idx: -1, hash: undefined as string | undefined }
      : { idx: head.idx, hash: head.hash as string | undefined };
  for (const entry of entries) {
    if (entry.gateway !== entries[0]?.gateway)
      throw new StoreConflictError('one append holds entries of several gateways');
    if (entry.index !== expected.idx + 1)
      throw new StoreConflictError(
        `entry ${entry.index} does not extend the chain of ${entry.gateway} (next index is ${expected.idx + 1})`,
      );
    if (expected.hash != null && entry.prev !== expected.hash)
      throw new StoreConflictError(`entry ${entry.index}'s prev does not match the stored head of ${entry.gateway}`);
    expected = { idx: entry.index, hash: entry.hash };
  }
}

export function fromRow(row: Row): LedgerEntry {
  return {
    gateway: row.gateway,
    index: Number(row.idx),
    kind: row.kind as EntryKind,
    body: JSON.parse(row.body),
    prev: row.prev,
    hash: row.hash,
  };
}
