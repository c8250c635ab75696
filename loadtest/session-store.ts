/**
 * What sharing sticky sessions through PostgreSQL adds to a request that names a session: the
 * lookup every such request makes, and the claim that binds a new session, on a real PostgreSQL
 * cluster from Debian's package, started by this script. Two session books stand for two gateways.
 *
 *   npx -y pnpm@12.4.2 loadtest:session-store [-- --sessions 2000 --concurrency 16]
 *
 * Each of `--sessions` new sessions is claimed by both gateways at once (one wins, one joins), then
 * looked up by each, `--concurrency` sessions at a time. Reported: each operation's wall time
 * (what a request waits) and the gateway's CPU per operation (what it costs the event loop), with a
 * single gateway's in-memory store for comparison. Report: `results/session-store.md`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { openSessionBook, type SessionBook } from '../packages/gateway/src/sessions.ts';
import { startPostgres } from '../test/services/postgres.ts';
import { scriptArgs } from './lib/args.ts';
import { median } from './lib/proc-usage.ts';

const { values } = parseArgs({
  args: scriptArgs(),
  options: {
    sessions: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '16' },
  },
});
const SESSIONS = Number(values.sessions);
const CONCURRENCY = Number(values.concurrency);
const TTL_MS = 600_000;
const log = (text: string): void => void process.stdout.write(`${new Date().toISOString()} ${text}\n`);
const quantile = (xs: number[], q: number): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))] as number;

interface Row {
  store: string;
  operation: string;
  wall: number[];
  cpuUs: number;
}

/** Runs `op` for every session, `CONCURRENCY` at a time; each call's wall time, and CPU per call. */
async function measure(op: (session: number) => Promise<unknown>): Promise<{ wall: number[]; cpuUs: number }> {
  const wall: number[] = [];
  let next = 0;
  const cpu = process.cpuUsage();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < SESSIONS) {
        const session = next++;
        const started = performance.now();
        await op(session);
        wall.push(performance.now() - started);
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  return { wall, cpuUs: (used.user + used.system) / wall.length };
}

async function run(store: string, a: SessionBook, b: SessionBook, prefix: string): Promise<Row[]> {
  const relays = ['relay-a', 'relay-b'];
  const claims = await measure(async (s) => {
    const [x, y] = await Promise.all([
      a.claim('acme', `${prefix}${s}`, relays[0] as string, TTL_MS),
      b.claim('acme', `${prefix}${s}`, relays[1] as string, TTL_MS),
    ]);
    if (x.relay !== y.relay || x.made === y.made)
      throw new Error(`session ${s}: two bindings (${x.relay}, ${y.relay})`);
  });
  const lookups = await measure(async (s) => {
    const [x, y] = await Promise.all([a.get('acme', `${prefix}${s}`), b.get('acme', `${prefix}${s}`)]);
    if (x == null || x !== y) throw new Error(`session ${s}: looked up as ${x} and ${y}`);
  });
  // Each step ran two operations, one per gateway: per operation, the CPU is half.
  return [
    { store, operation: 'claim a new session (both gateways at once)', wall: claims.wall, cpuUs: claims.cpuUs / 2 },
    { store, operation: 'look up a bound session', wall: lookups.wall, cpuUs: lookups.cpuUs / 2 },
  ];
}

const postgres = await startPostgres();
const rows: Row[] = [];
try {
  log(`${SESSIONS} sessions, ${CONCURRENCY} at a time`);
  const memory = await openSessionBook(undefined);
  rows.push(...(await run('in memory, one gateway', memory, memory, 'm')));
  const [a, b] = await Promise.all([openSessionBook(postgres.url), openSessionBook(postgres.url)]);
  try {
    await run('PostgreSQL (warm-up)', a, b, 'w');
    rows.push(...(await run('PostgreSQL, two gateways', a, b, 'p')));
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
} finally {
  await postgres.stop();
}

const ms = (x: number): string => `${x.toFixed(2)} ms`;
const lines = [
  '# What a shared PostgreSQL session store adds to a session request',
  '',
  `\`npx -y pnpm@12.4.2 loadtest:session-store -- --sessions ${SESSIONS} --concurrency ${CONCURRENCY}\`, ended ${new Date().toISOString()}.`,
  `${SESSIONS} new sessions, each claimed by two gateways at once (one binds it, the other joins), then`,
  `looked up by both; ${CONCURRENCY} sessions at a time. PostgreSQL runs on this machine (fsync off). Wall: what`,
  'the request waits; CPU: what one operation costs the gateway process (its event loop).',
  '',
  '| store | operation | wall, median | wall, p95 | wall, p99 | CPU per operation |',
  '|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.store} | ${r.operation} | ${ms(median(r.wall))} | ${ms(quantile(r.wall, 0.95))} | ${ms(quantile(r.wall, 0.99))} | ${r.cpuUs.toFixed(0)} µs |`,
  ),
  '',
];
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(new URL('./results/session-store.md', import.meta.url), lines.join('\n'));
process.stdout.write(`${lines.join('\n')}\n`);
