import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresServer, startPostgres } from '../../../test/services/postgres.ts';
import { type CustomerBook, openCustomerBook } from '../src/customer-book.ts';
import { authenticate, hashApiKey } from '../src/customers.ts';

let postgres: PostgresServer;
let database = 0;
const dirs: string[] = [];
const open: CustomerBook[] = [];

beforeAll(async () => {
  postgres = await startPostgres();
}, 120_000);

afterAll(async () => {
  // Some tests close their store themselves: a second close throws, synchronously for SQLite.
  await Promise.all(
    open.map((book) =>
      Promise.resolve()
        .then(() => book.close())
        .catch(() => {}),
    ),
  );
  await postgres?.stop();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A fresh, empty store; `openAgain` opens the same one as another process (a CLI, a second gateway) would. */
interface Backend {
  name: string;
  create(): Promise<{ url?: string; openAgain(): Promise<CustomerBook> }>;
}

async function tracked(book: Promise<CustomerBook>): Promise<CustomerBook> {
  open.push(await book);
  return open.at(-1) as CustomerBook;
}

const sqlite: Backend = {
  name: 'SQLite',
  async create() {
    const dir = await mkdtemp(join(tmpdir(), 'meadow-customers-'));
    dirs.push(dir);
    return { openAgain: () => tracked(openCustomerBook(join(dir, 'customers.db'))) };
  },
};

const postgresql: Backend = {
  name: 'PostgreSQL',
  async create() {
    const admin = await openCustomerBook(postgres.url);
    const name = `customers_${process.pid}_${++database}`;
    await (admin as unknown as { pool: pg.Pool }).pool.query(`CREATE DATABASE ${name}`);
    await admin.close();
    const url = postgres.url.replace(/\/postgres$/, `/${name}`);
    return { url, openAgain: () => tracked(openCustomerBook(url)) };
  },
};

describe.each([sqlite, postgresql])('a customer store on $name', (backend) => {
  it('creates customers with a key shown once, finds them in any case, and refuses a second of the same name', async () => {
    const book = await (await backend.create()).openAgain();
    const { apiKey, customer } = await book.add('Acme', { quotaBytes: 5_000, priceMicrosPerGb: 1_500_000 });
    expect(apiKey).toMatch(/^mdw_[A-Za-z0-9_-]{32}$/);
    expect(customer).toMatchObject({ name: 'Acme', quotaBytes: 5_000, priceMicrosPerGb: 1_500_000, maxTunnels: 256 });
    expect(customer.apiKeySha256).toBe(hashApiKey(apiKey));
    expect(book.find('acme')?.name).toBe('Acme');
    expect(authenticate(book, 'acme-country-de', apiKey).customer.name).toBe('Acme');
    await expect(Promise.resolve().then(() => book.add('ACME'))).rejects.toThrow(/already exists/);
    await book.add('beta');
    expect(book.list().map((c) => c.name)).toEqual(['Acme', 'beta']);
  });

  it('changes a plan part by part, rotates keys, disables and re-enables, and says when a customer is unknown', async () => {
    const book = await (await backend.create()).openAgain();
    const { apiKey } = await book.add('acme', { quotaBytes: 5_000 });
    expect(await book.setPlan('acme', { maxTunnels: 8 })).toBe(true);
    expect(book.find('acme')).toMatchObject({ quotaBytes: 5_000, maxTunnels: 8 });
    expect(await book.setPlan('acme', { quotaBytes: null })).toBe(true);
    expect(book.find('acme')).toMatchObject({ quotaBytes: null, maxTunnels: 8 });
    const rotated = (await book.rotateKey('acme')) as string;
    expect(rotated).not.toBe(apiKey);
    expect(book.find('acme')?.apiKeySha256).toBe(hashApiKey(rotated));
    expect(() => authenticate(book, 'acme', apiKey)).toThrow();
    expect(await book.setDisabled('acme', true)).toBe(true);
    expect(book.find('acme')?.disabled).toBe(true);
    expect(await book.setDisabled('acme', false)).toBe(true);
    expect(await book.setPlan('nobody', { maxTunnels: 1 })).toBe(false);
    expect(await book.rotateKey('nobody')).toBeUndefined();
    expect(await book.setDisabled('nobody', true)).toBe(false);
  });

  it('keeps the networks a key may be used from, through add, set, upsert and a reopen; "anywhere" is null', async () => {
    const store = await backend.create();
    const book = await store.openAgain();
    await book.add('acme', { allowedClients: ['203.0.113.0/24', '2001:db8::/32'] });
    expect(book.find('acme')?.allowedClients).toEqual(['203.0.113.0/24', '2001:db8::/32']);
    await book.setPlan('acme', { maxTunnels: 3 });
    expect(book.find('acme')).toMatchObject({ maxTunnels: 3, allowedClients: ['203.0.113.0/24', '2001:db8::/32'] });
    expect((await store.openAgain()).find('acme')?.allowedClients).toEqual(['203.0.113.0/24', '2001:db8::/32']);
    await book.setPlan('acme', { allowedClients: null });
    expect(book.find('acme')?.allowedClients).toBeNull();
    await book.upsert({ name: 'beta', apiKeySha256: hashApiKey('k') }, { allowedClients: ['198.51.100.7'] });
    const beta = authenticate(book, 'beta', 'k').customer.clients;
    expect(beta?.allows('198.51.100.7')).toBe(true);
    expect(beta?.allows('::ffff:198.51.100.7')).toBe(true);
    expect(beta?.allows('198.51.100.8')).toBe(false);
    expect(authenticate(book, 'acme', (await book.rotateKey('acme')) as string).customer.clients).toBeNull();
  });

  it('writes a config-listed customer again at every start, plan and key', async () => {
    const store = await backend.create();
    const book = await store.openAgain();
    await book.upsert({ name: 'acme', apiKeySha256: hashApiKey('one') }, { maxTunnels: 4 });
    await book.upsert({ name: 'acme', apiKeySha256: hashApiKey('two') }, { maxTunnels: 9 });
    expect(book.find('acme')).toMatchObject({ apiKeySha256: hashApiKey('two'), maxTunnels: 9 });
    expect((await store.openAgain()).find('acme')?.maxTunnels).toBe(9);
  });

  it('counts recorded usage at once, writes it on flush, and keeps it for the next process', async () => {
    const store = await backend.create();
    const book = await store.openAgain();
    await book.add('acme');
    book.recordUsage('acme', { tunnels: 1, bytesToTarget: 100, bytesFromTarget: 1_000 });
    book.recordUsage('ACME', { tunnels: 2, bytesToTarget: 10, bytesFromTarget: 20 });
    expect(book.usage('acme')).toEqual({ tunnels: 3, bytesToTarget: 110, bytesFromTarget: 1_020 });
    expect(await book.flush()).toBe(true);
    expect(await book.flush()).toBe(false);
    expect(book.usage('acme')).toEqual({ tunnels: 3, bytesToTarget: 110, bytesFromTarget: 1_020 });
    book.recordUsage('acme', { tunnels: 1, bytesToTarget: 1, bytesFromTarget: 1 });
    await book.close();
    expect((await store.openAgain()).usage('acme')).toEqual({ tunnels: 4, bytesToTarget: 111, bytesFromTarget: 1_021 });
  });
});

describe('a SQLite customer store from before allowed networks', () => {
  it('gains the column on open, with every existing customer usable from anywhere', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meadow-customers-old-'));
    dirs.push(dir);
    const path = join(dir, 'customers.db');
    const old = new DatabaseSync(path);
    old.exec(`CREATE TABLE customers (name TEXT PRIMARY KEY COLLATE NOCASE, api_key_sha256 TEXT NOT NULL,
      disabled INTEGER NOT NULL DEFAULT 0, price_micros_per_gb INTEGER NOT NULL, quota_bytes INTEGER,
      max_tunnels INTEGER NOT NULL, created_at TEXT NOT NULL)`);
    old.prepare('INSERT INTO customers VALUES (?, ?, 0, 1000000, NULL, 256, ?)').run('acme', hashApiKey('k'), 'then');
    old.close();
    const book = await tracked(openCustomerBook(path));
    expect(book.find('acme')).toMatchObject({ name: 'acme', allowedClients: null });
    expect(authenticate(book, 'acme', 'k').customer.clients).toBeNull();
    await book.setPlan('acme', { allowedClients: ['10.1.2.0/24'] });
    expect(book.find('acme')?.allowedClients).toEqual(['10.1.2.0/24']);
  });
});

describe('customers shared by several gateways through PostgreSQL', () => {
  it('adds every gateway’s usage to one total, however their flushes interleave', async () => {
    const store = await postgresql.create();
    const [a, b, cli] = [await store.openAgain(), await store.openAgain(), await store.openAgain()];
    await cli.add('acme');
    for (let round = 0; round < 20; round++) {
      a.recordUsage('acme', { tunnels: 1, bytesToTarget: 7, bytesFromTarget: 1_000 });
      b.recordUsage('acme', { tunnels: 1, bytesToTarget: 3, bytesFromTarget: 500 });
      await Promise.all([a.flush(), b.flush()]);
    }
    await Promise.all([a.flush(), b.flush()]);
    const expected = { tunnels: 40, bytesToTarget: 200, bytesFromTarget: 30_000 };
    expect(a.usage('acme')).toEqual(expected);
    expect(b.usage('acme')).toEqual(expected);
    expect((await store.openAgain()).usage('acme')).toEqual(expected);
  });

  it('shows a change made elsewhere (the CLI, another gateway) after the next flush', async () => {
    const store = await postgresql.create();
    const [gateway, cli] = [await store.openAgain(), await store.openAgain()];
    const { apiKey } = await cli.add('acme', { quotaBytes: 1_000 });
    expect(gateway.find('acme')).toBeUndefined();
    await gateway.flush();
    expect(authenticate(gateway, 'acme', apiKey).customer.quotaBytes).toBe(1_000);
    const rotated = (await cli.rotateKey('acme')) as string;
    await cli.setPlan('acme', { quotaBytes: 2_000 });
    await gateway.flush();
    expect(() => authenticate(gateway, 'acme', apiKey)).toThrow();
    expect(authenticate(gateway, 'acme', rotated).customer.quotaBytes).toBe(2_000);
  });

  it('reports the bytes other gateways booked, and never its own, so a shared quota counts them', async () => {
    const store = await postgresql.create();
    const [a, b] = [await store.openAgain(), await store.openAgain()];
    await a.add('acme');
    const foreignToA: Array<[string, number]> = [];
    const foreignToB: Array<[string, number]> = [];
    a.onForeignUsage = (name, bytes) => foreignToA.push([name, bytes]);
    b.onForeignUsage = (name, bytes) => foreignToB.push([name, bytes]);
    a.recordUsage('acme', { tunnels: 1, bytesToTarget: 100, bytesFromTarget: 900 });
    await a.flush();
    await b.flush();
    b.recordUsage('acme', { tunnels: 1, bytesToTarget: 5, bytesFromTarget: 45 });
    await b.flush();
    await a.flush();
    expect(foreignToB).toEqual([['acme', 1_000]]);
    expect(foreignToA).toEqual([['acme', 50]]);
  });

  it('loses no usage when a flush fails, and writes it with the next one', async () => {
    const store = await postgresql.create();
    const book = await store.openAgain();
    await book.add('acme');
    const sql = (text: string) => (book as unknown as { pool: pg.Pool }).pool.query(text);
    book.recordUsage('acme', { tunnels: 1, bytesToTarget: 10, bytesFromTarget: 90 });
    await sql('ALTER TABLE customer_usage RENAME TO customer_usage_away');
    await expect(Promise.resolve(book.flush())).rejects.toThrow(/customer_usage/);
    expect(book.usage('acme')).toEqual({ tunnels: 1, bytesToTarget: 10, bytesFromTarget: 90 });
    await sql('ALTER TABLE customer_usage_away RENAME TO customer_usage');
    expect(await book.flush()).toBe(true);
    expect((await store.openAgain()).usage('acme')).toEqual({ tunnels: 1, bytesToTarget: 10, bytesFromTarget: 90 });
  });

  it('reads a write that commits after a later one: commit order is not transaction order', async () => {
    const store = await postgresql.create();
    const [gateway, other] = [await store.openAgain(), await store.openAgain()];
    await gateway.add('acme');
    await gateway.add('beta');
    await gateway.flush();
    const slow = new pg.Client({ connectionString: store.url });
    await slow.connect();
    try {
      // An older transaction (a slow gateway's flush) writes first and commits last.
      await slow.query('BEGIN');
      await slow.query(
        "INSERT INTO customer_usage (name_key, tunnels, bytes_to_target, bytes_from_target) VALUES ('acme', 1, 10, 90)",
      );
      other.recordUsage('beta', { tunnels: 1, bytesToTarget: 1, bytesFromTarget: 9 });
      await other.flush();
      await gateway.flush();
      expect(gateway.usage('beta').tunnels).toBe(1);
      expect(gateway.usage('acme').tunnels).toBe(0);
      await slow.query('COMMIT');
    } finally {
      await slow.end();
    }
    await gateway.flush();
    expect(gateway.usage('acme')).toEqual({ tunnels: 1, bytesToTarget: 10, bytesFromTarget: 90 });
  });

  it('names the database it cannot reach', async () => {
    await expect(openCustomerBook('postgres://meadow@127.0.0.1:1/none')).rejects.toThrow(/ECONNREFUSED/);
  });
});
