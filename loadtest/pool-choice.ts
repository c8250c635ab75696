/**
 * What choosing a relay for one tunnel costs the gateway as its pool grows: the pool's own choice
 * (two routable relays drawn at random from the country's list) against a full scan of the pool
 * (every relay checked, then two drawn from the routable ones: how the gateway chose until
 * 2026-11-27), in the same run, rounds alternating (A B A B …). In-process, no network: only the
 * choice itself is measured.
 *
 *   npx -y pnpm@12.4.2 loadtest:pool-choice [-- --sizes 10,100,1000,10000 --rounds 3 --choices 20000]
 *
 * Relays are spread over ten countries; one in twenty is paused (from 80 relays on), and a choice asks for one
 * country and port 443. Report: `results/pool-choice.md`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { RelayDescriptor } from '@meadow/discovery';
import type { TunnelMux } from '@meadow/protocol';
import { betterOfTwo, type ChooseOptions, type PooledRelay, RelayPool } from '../packages/gateway/src/relay-pool.ts';
import { scriptArgs } from './lib/args.ts';
import { median } from './lib/proc-usage.ts';

const { values } = parseArgs({
  args: scriptArgs(),
  options: {
    sizes: { type: 'string', default: '10,100,1000,10000' },
    rounds: { type: 'string', default: '3' },
    choices: { type: 'string', default: '20000' },
  },
});
const SIZES = values.sizes.split(',').map(Number);
const ROUNDS = Number(values.rounds);
const CHOICES = Number(values.choices);
const COUNTRIES = ['DE', 'US', 'FR', 'GB', 'NL', 'BR', 'IN', 'JP', 'CA', 'PL'];
const log = (text: string): void => void process.stdout.write(`${new Date().toISOString()} ${text}\n`);

function poolOf(size: number): RelayPool {
  const pool = new RelayPool();
  const now = Date.now();
  for (let i = 0; i < size; i++) {
    // The pool reads only these two fields of a link.
    const mux = { isClosed: false, activeTunnels: i % 20 } as unknown as TunnelMux;
    const country = COUNTRIES[i % COUNTRIES.length] as string;
    const descriptor: RelayDescriptor = {
      peerId: `relay-${i}`,
      addrs: [],
      country,
      capacityBytesPerSecond: 12_500_000,
      // One in twenty paused, spread over the countries (none in pools under 80 relays).
      state: Math.floor(i / COUNTRIES.length) % 20 === 7 ? 'paused' : 'serving',
      remainingBytes: null,
      maxTunnels: 512,
      rejectedPorts: [25, 465, 587],
      softwareVersion: '0',
      payoutAddress: 'p',
      issuedAt: now,
      expiresAt: now + 3_600_000,
    };
    const relay = pool.addLink(`relay-${i}`, mux);
    relay.descriptor = descriptor;
    relay.record(true, 20 + (i % 50));
  }
  return pool;
}

/** The choice as it was: every relay of the pool checked, then the better of two routable ones. */
function scanChoose(pool: RelayPool, options: ChooseOptions): PooledRelay | undefined {
  const candidates = pool.routable(options.country, options.port).filter((r) => !options.exclude.has(r.peerId));
  return betterOfTwo(candidates, Math.random);
}

/** Microseconds per choice over `CHOICES` choices, each for one of the ten countries in turn. */
function timeChoices(choose: (options: ChooseOptions) => PooledRelay | undefined): number {
  const exclude = new Set<string>();
  let found = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < CHOICES; i++) {
    if (choose({ country: COUNTRIES[i % COUNTRIES.length], port: 443, exclude }) != null) found++;
  }
  const us = Number(process.hrtime.bigint() - started) / 1000 / CHOICES;
  if (found !== CHOICES) throw new Error(`only ${found} of ${CHOICES} choices found a relay`);
  return us;
}

const rows: { size: number; pool: number; scan: number }[] = [];
for (const size of SIZES) {
  const pool = poolOf(size);
  const own = (options: ChooseOptions) => pool.choose(options);
  const scan = (options: ChooseOptions) => scanChoose(pool, options);
  // Warm-up: both paths compiled before anything is timed.
  timeChoices(own);
  timeChoices(scan);
  const ownUs: number[] = [];
  const scanUs: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    ownUs.push(timeChoices(own));
    scanUs.push(timeChoices(scan));
    log(
      `${size} relays, round ${round}: the pool's choice ${ownUs.at(-1)?.toFixed(2)} µs, full scan ${scanUs.at(-1)?.toFixed(2)} µs`,
    );
  }
  rows.push({ size, pool: median(ownUs), scan: median(scanUs) });
}

const smallest = rows[0] as (typeof rows)[number];
const report = [
  '# What choosing a relay costs as the pool grows',
  '',
  `\`npx -y pnpm@12.4.2 loadtest:pool-choice -- --sizes ${SIZES.join(',')} --rounds ${ROUNDS} --choices ${CHOICES}\`, ended ${new Date().toISOString()}.`,
  'Microseconds of one thread per choice (median of the rounds), relays in ten countries, one in',
  "twenty paused, each choice for one country and port 443. The pool's choice draws two routable",
  'relays at random from the country; the full scan checks every relay first (the gateway until',
  '2026-11-27). Last column: the cost against the smallest pool in this run (1.0 = flat).',
  '',
  `| relays | the pool's choice | full scan | full scan ÷ the pool's choice | the pool's choice ÷ at ${smallest.size} relays |`,
  '|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.size} | ${r.pool.toFixed(2)} µs | ${r.scan.toFixed(2)} µs | ${(r.scan / r.pool).toFixed(1)} | ${(r.pool / smallest.pool).toFixed(2)} |`,
  ),
].join('\n');
log(`\n${report}`);
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(new URL('./results/pool-choice.md', import.meta.url), `${report}\n`);
