import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresServer, startPostgres } from '../../../test/services/postgres.ts';
import { entryHash, GENESIS_HASH, type LedgerEntry } from '../src/entries.ts';
import { exportLedger } from '../src/export.ts';
import { PostgresLedgerStore } from '../src/postgres-store.ts';
import { SqliteLedgerStore } from '../src/sqlite-store.ts';
import type { LedgerStore } from '../src/store.ts';
import { verifyExport } from '../src/verify.ts';
import { buildHistory, gatewaySigner, NETWORK, relayA } from './fixture.ts';

let postgres: PostgresServer;
let database = 0;

beforeAll(async () => {
  postgres = await startPostgres();
}, 120_000);

const sqliteDirs: string[] = [];
afterAll(async () => {
  await postgres?.stop();
  await Promise.all(sqliteDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Each test gets an empty database; `reopen` opens the same one again as a fresh process would. */
interface Backend {
  name: string;
  create(): Promise<{ store: LedgerStore; reopen(): Promise<LedgerStore> }>;
  /** Runs raw SQL against the backend behind the store's back. */
  rawSql(store: LedgerStore, sql: string): Promise<unknown>;
}

const backends: Backend[] = [
  {
    name: 'SQLite',
    async create() {
      const dir = await mkdtemp(join(tmpdir(), 'meadow-ledger-'));
      sqliteDirs.push(dir);
      const path = join(dir, 'ledger.db');
      return { store: new SqliteLedgerStore(path), reopen: async () => new SqliteLedgerStore(path) };
    },
    async rawSql(store, sql) {
      return (store as unknown as { db: import('node:sqlite').DatabaseSync }).db.exec(sql);
    },
  },
  {
    name: 'PostgreSQL',
    async create() {
      const admin = await PostgresLedgerStore.open(postgres.url);
      const name = `ledger_${process.pid}_${++database}`;
      await (admin as unknown as { pool: import('pg').Pool }).pool.query(`CREATE DATABASE ${name}`);
      await admin.close();
      const url = postgres.url.replace(/\/postgres$/, `/${name}`);
      return { store: await PostgresLedgerStore.open(url), reopen: () => PostgresLedgerStore.open(url) };
    },
    async rawSql(store, sql) {
      return (store as unknown as { pool: import('pg').Pool }).pool.query(sql);
    },
  },
];

function entry(gateway: string, index: number, prev: string, kind: LedgerEntry['kind'] = 'revenue'): LedgerEntry {
  const body = { epoch: 1, customer: `c${index}`, bytes: index, priceMicrosPerGb: 1, micros: 0 };
  const unhashed = { gateway, index, kind, body: body as LedgerEntry['body'], prev };
  return { ...unhashed, hash: entryHash(unhashed) };
}

async function all(store: LedgerStore, options?: Parameters<LedgerStore['entries']>[0]): Promise<LedgerEntry[]> {
  const out: LedgerEntry[] = [];
  for await (const e of store.entries(options)) out.push(e);
  return out;
}

describe.each(backends)('ledger store compliance: $name', (backend) => {
  it('appends, reads back in chain order, and finds the head and the last entry of a kind', async () => {
    const { store } = await backend.create();
    const g = gatewaySigner.peerId;
    expect(await store.head(g)).toBeUndefined();
    let prev = GENESIS_HASH;
    const written: LedgerEntry[] = [];
    for (let i = 0; i < 2_500; i++) {
      const e = entry(g, i, prev, i === 1_234 ? 'receipt' : 'revenue');
      await store.append(e);
      written.push(e);
      prev = e.hash;
    }
    expect(await all(store, { gateway: g, batchSize: 1_000 })).toEqual(written);
    expect(await all(store, { gateway: g, fromIndex: 2_499 })).toEqual([written[2_499]]);
    expect(await store.head(g)).toEqual(written[2_499]);
    expect((await store.lastOfKind(g, 'receipt'))?.index).toBe(1_234);
    expect((await store.recentOfKind(g, 'revenue', 3)).map((e) => e.index)).toEqual([2_499, 2_498, 2_497]);
    await store.close();
  });

  it('refuses an append that does not extend the stored head (no forks, no gaps)', async () => {
    const { store } = await backend.create();
    const g = gatewaySigner.peerId;
    const first = entry(g, 0, GENESIS_HASH);
    await store.append(first);
    await expect(store.append(entry(g, 0, GENESIS_HASH))).rejects.toThrow(/does not extend|next index/);
    await expect(store.append(entry(g, 2, first.hash))).rejects.toThrow(/next index is 1/);
    await expect(store.append(entry(g, 1, GENESIS_HASH))).rejects.toThrow(/prev does not match/);
    expect(await all(store)).toEqual([first]);
    await store.close();
  });

  it('writes a batch all or nothing', async () => {
    const { store } = await backend.create();
    const g = gatewaySigner.peerId;
    const a = entry(g, 0, GENESIS_HASH);
    const b = entry(g, 1, a.hash);
    const broken = entry(g, 2, GENESIS_HASH);
    await expect(store.appendMany([a, b, broken])).rejects.toThrow(/prev does not match/);
    expect(await all(store)).toEqual([]);
    await store.appendMany([a, b]);
    expect(await all(store)).toEqual([a, b]);
    await store.close();
  });

  it('serialises concurrent appends from two writers: exactly one wins each index', async () => {
    const { store, reopen } = await backend.create();
    const other = await reopen();
    const g = gatewaySigner.peerId;
    const results = await Promise.allSettled([
      store.append(entry(g, 0, GENESIS_HASH, 'revenue')),
      other.append(entry(g, 0, GENESIS_HASH, 'dispute')),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(await all(store)).toHaveLength(1);
    await Promise.all([store.close(), other.close()]);
  });

  it('refuses UPDATE and DELETE even through raw SQL', async () => {
    const { store } = await backend.create();
    await store.append(entry(gatewaySigner.peerId, 0, GENESIS_HASH));
    await expect(backend.rawSql(store, "UPDATE ledger_entries SET body = '{}'")).rejects.toThrow(/append-only/);
    await expect(backend.rawSql(store, 'DELETE FROM ledger_entries')).rejects.toThrow(/append-only/);
    expect(await all(store)).toHaveLength(1);
    await store.close();
  });

  it('keeps separate chains per gateway and survives a reopen', async () => {
    const { store, reopen } = await backend.create();
    const a = entry(gatewaySigner.peerId, 0, GENESIS_HASH);
    const b = entry(relayA.peerId, 0, GENESIS_HASH);
    await store.append(a);
    await store.append(b);
    await store.close();
    const again = await reopen();
    expect(await again.gateways()).toEqual([gatewaySigner.peerId, relayA.peerId].sort());
    expect(await all(again, { gateway: relayA.peerId })).toEqual([b]);
    await again.close();
  });

  it('holds a whole ledger history whose export verifies', async () => {
    const { store } = await backend.create();
    await buildHistory(store);
    const lines: string[] = [];
    for await (const line of exportLedger(store, { network: NETWORK })) lines.push(line);
    expect(await verifyExport(lines)).toMatchObject({ ok: true, summary: { epochs: 2 } });
    await store.close();
  });
});
