/**
 * What sharing customers through PostgreSQL costs a gateway each second as the customer list grows:
 * one flush (this gateway's usage added with one statement, then what changed read back) on a real
 * PostgreSQL cluster from Debian's package, started by this script.
 *
 *   npx -y pnpm@12.4.2 loadtest:customer-store [-- --sizes 100,1000,10000 --active 50 --flushes 40]
 *
 * Each flush writes `--active` customers' usage, as a gateway does for the customers that had tunnels
 * in the last second, while another gateway writes as many others. Reported: the flush's wall time and
 * how long it kept the gateway's event loop busy (the time no tunnel is served), medians and p95.
 * Report: `results/customer-store.md`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { type CustomerBook, openCustomerBook } from '../packages/gateway/src/customer-book.ts';
import { startPostgres } from '../test/services/postgres.ts';
import { scriptArgs } from './lib/args.ts';
import { median } from './lib/proc-usage.ts';

const { values } = parseArgs({
  args: scriptArgs(),
  options: {
    sizes: { type: 'string', default: '100,1000,10000' },
    active: { type: 'string', default: '50' },
    flushes: { type: 'string', default: '40' },
  },
});
const SIZES = values.sizes.split(',').map(Number);
const ACTIVE = Number(values.active);
const FLUSHES = Number(values.flushes);
const log = (text: string): void => void process.stdout.write(`${new Date().toISOString()} ${text}\n`);

const p95 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(0.95 * (xs.length - 1))] as number;

/** Adds customers c<from>…c<to> directly (a CLI would take minutes for ten thousand). */
async function addCustomers(book: CustomerBook, from: number, to: number): Promise<void> {
  const pool = (book as unknown as { pool: { query(sql: string, params: unknown[]): Promise<unknown> } }).pool;
  await pool.query(
    `INSERT INTO customers (name_key, name, api_key_sha256, disabled, price_micros_per_gb, quota_bytes, max_tunnels, created_at)
     SELECT 'c' || g, 'c' || g, repeat('0', 64), false, 1000000, NULL, 256, now()::text FROM generate_series($1::int, $2::int) g`,
    [from, to],
  );
}

const postgres = await startPostgres();
const rows: { size: number; wall: number; wall95: number; busy: number; busy95: number }[] = [];
try {
  const gateway = await openCustomerBook(postgres.url);
  const other = await openCustomerBook(postgres.url);
  let have = 0;
  for (const size of SIZES) {
    await addCustomers(gateway, have + 1, size);
    have = size;
    await Promise.all([gateway.flush(), other.flush()]);
    const wall: number[] = [];
    const busy: number[] = [];
    for (let i = 0; i < FLUSHES; i++) {
      for (let c = 0; c < ACTIVE; c++) {
        const usage = { tunnels: 1, bytesToTarget: 500, bytesFromTarget: 50_000 };
        gateway.recordUsage(`c${((i * ACTIVE + c) % size) + 1}`, usage);
        other.recordUsage(`c${((i * ACTIVE + c + size / 2) % size) + 1}`, usage);
      }
      await other.flush();
      const before = performance.eventLoopUtilization();
      const started = performance.now();
      await gateway.flush();
      wall.push(performance.now() - started);
      busy.push(performance.eventLoopUtilization(before).active);
    }
    if (gateway.list().length !== size)
      throw new Error(`the gateway sees ${gateway.list().length} of ${size} customers`);
    rows.push({ size, wall: median(wall), wall95: p95(wall), busy: median(busy), busy95: p95(busy) });
    log(
      `${size} customers: flush ${median(wall).toFixed(1)} ms, event loop busy ${median(busy).toFixed(1)} ms (medians)`,
    );
  }
  await Promise.all([gateway.close(), other.close()]);
} finally {
  await postgres.stop();
}

const report = [
  '# What a shared PostgreSQL customer store costs a gateway each second',
  '',
  `\`npx -y pnpm@12.4.2 loadtest:customer-store -- --sizes ${SIZES.join(',')} --active ${ACTIVE} --flushes ${FLUSHES}\`, ended ${new Date().toISOString()}.`,
  `One flush a second: ${ACTIVE} customers' usage written in one statement, then every customer and total`,
  `that changed since the last read (here also ${ACTIVE} written by a second gateway) read back. PostgreSQL`,
  'runs on this machine (fsync off). Event loop busy: how long the flush kept the gateway from serving.',
  '',
  '| customers | flush, median | flush, p95 | event loop busy, median | event loop busy, p95 |',
  '|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.size} | ${r.wall.toFixed(1)} ms | ${r.wall95.toFixed(1)} ms | ${r.busy.toFixed(1)} ms | ${r.busy95.toFixed(1)} ms |`,
  ),
].join('\n');
log(`\n${report}`);
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(new URL('./results/customer-store.md', import.meta.url), `${report}\n`);
