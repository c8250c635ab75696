/**
 * How many websites' names a relay can resolve while a crawler's frontier includes names whose DNS
 * never answers: the relay's resolver (`TargetResolver`: c-ares queries, a TTL cache, one query per
 * name in flight) against what the relay used before, `dns.lookup` (getaddrinfo on libuv's four
 * threads, no cache), side by side in one run, rounds alternating. The resolver also runs with its
 * cache off, to show what the queries alone gain over the thread pool.
 *
 *   npx -y pnpm@12.4.2 loadtest:dns [-- --lookups 3000 --concurrency 64 --sites 400 --delay-ms 20 --dead 0,0.02 --rounds 2]
 *
 * getaddrinfo reads its servers from /etc/resolv.conf, so the script runs itself in a network
 * namespace of its own (`ip netns`, root) whose resolv.conf names a test DNS server on the
 * namespace's loopback: it answers `s<n>.live.meadow.test` after `--delay-ms` (a household's
 * resolver on a cache miss) and never answers `*.dead.meadow.test`. glibc is given the same budget
 * as the relay's resolver: 1 s per try, 2 tries. Names are drawn Zipf-like over `--sites` (a crawl
 * comes back to the same sites), and a share `--dead` of lookups go to distinct dead names.
 * Report: `results/dns.md`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { once } from 'node:events';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { TargetResolver } from '../packages/relay/src/target-resolver.ts';
import { startDnsServer } from '../test/services/dns-server.ts';
import { scriptArgs } from './lib/args.ts';
import { percentile } from './lib/crawler-load.ts';

const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);

const { values } = parseArgs({
  args: scriptArgs(),
  options: {
    lookups: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '64' },
    sites: { type: 'string', default: '400' },
    'delay-ms': { type: 'string', default: '20' },
    dead: { type: 'string', default: '0,0.02' },
    rounds: { type: 'string', default: '2' },
    'max-seconds': { type: 'string', default: '60' },
  },
});
const LOOKUPS = Number(values.lookups);
const CONCURRENCY = Number(values.concurrency);
const SITES = Number(values.sites);
const DELAY_MS = Number(values['delay-ms']);
const DEAD_SHARES = values.dead.split(',').map(Number);
const ROUNDS = Number(values.rounds);
const MAX_MS = Number(values['max-seconds']) * 1000;
const INNER = 'MEADOW_DNS_BENCH_NETNS';
const log = (text: string): void => void process.stdout.write(`${new Date().toISOString()} ${text}\n`);

if (process.env[INNER] == null) await runInNamespace();
else await benchmark();

/** Creates the namespace and its resolv.conf, runs this script inside, and removes both. */
async function runInNamespace(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('loadtest:dns needs root: it creates a network namespace with its own resolv.conf (ip netns)');
    process.exit(1);
  }
  const ns = `meadow-dns-${process.pid}`;
  const etc = `/etc/netns/${ns}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await mkdir(etc, { recursive: true });
    await writeFile(`${etc}/resolv.conf`, 'nameserver 127.0.0.1\noptions timeout:1 attempts:2\n');
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, import.meta.filename, ...scriptArgs()], {
      env: { ...process.env, [INNER]: ns },
      stdio: 'inherit',
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    process.exitCode = code ?? 1;
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
    await rm(etc, { recursive: true, force: true });
  }
}

type Resolve = (host: string) => Promise<unknown>;

interface RunResult {
  liveDone: number;
  /** From the first lookup to the last live name's answer (dead names may still be waiting). */
  liveSeconds: number;
  liveFailed: number;
  deadDone: number;
  seconds: number;
  latenciesMs: number[];
  queries: number;
}

/** A small deterministic PRNG, so that both resolvers get the same names in the same order. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `LOOKUPS` names: Zipf (s = 1) over the sites, with `deadShare` of them distinct dead names. */
function workload(deadShare: number): string[] {
  const random = mulberry32(7);
  const weights = Array.from({ length: SITES }, (_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  const names: string[] = [];
  for (let i = 0; i < LOOKUPS; i++) {
    if (random() < deadShare) {
      names.push(`d${i}.dead.meadow.test`);
      continue;
    }
    let x = random() * total;
    let site = 0;
    while (site < SITES - 1 && x > (weights[site] as number)) x -= weights[site++] as number;
    names.push(`s${site}.live.meadow.test`);
  }
  return names;
}

async function run(resolve: Resolve, names: string[], queriesBefore: () => number): Promise<RunResult> {
  const result: RunResult = {
    liveDone: 0,
    liveSeconds: 0,
    liveFailed: 0,
    deadDone: 0,
    seconds: 0,
    latenciesMs: [],
    queries: 0,
  };
  const before = queriesBefore();
  const started = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < names.length && performance.now() - started < MAX_MS) {
      const name = names[next++] as string;
      const t = performance.now();
      const ok = await resolve(name).then(
        () => true,
        () => false,
      );
      if (name.endsWith('.dead.meadow.test')) result.deadDone++;
      else if (ok) {
        result.liveDone++;
        result.latenciesMs.push(performance.now() - t);
        result.liveSeconds = (performance.now() - started) / 1000;
      } else result.liveFailed++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  result.seconds = (performance.now() - started) / 1000;
  result.queries = queriesBefore() - before;
  return result;
}

async function benchmark(): Promise<void> {
  const resolvConf = await readFile('/etc/resolv.conf', 'utf8');
  if (!resolvConf.includes('nameserver 127.0.0.1')) throw new Error(`not in the benchmark's namespace:\n${resolvConf}`);
  const dns = await startDnsServer(
    {
      '*.live.meadow.test': { a: ['93.184.216.34'], ttl: 300, delayMs: DELAY_MS },
      '*.dead.meadow.test': { silent: true },
    },
    53,
  );
  const resolvers: Array<{ name: string; make: () => { resolve: Resolve; close(): void } }> = [
    {
      name: '`dns.lookup` (getaddrinfo, before)',
      make: () => ({ resolve: (host) => lookup(host, { all: true, order: 'verbatim' }), close: () => {} }),
    },
    {
      name: '`TargetResolver`, cache off',
      make: () => {
        const resolver = new TargetResolver({ servers: ['127.0.0.1:53'], cacheSize: 0 });
        return { resolve: (host) => resolver.resolve(host), close: () => resolver.close() };
      },
    },
    {
      name: '`TargetResolver` (now)',
      make: () => {
        const resolver = new TargetResolver({ servers: ['127.0.0.1:53'] });
        return { resolve: (host) => resolver.resolve(host), close: () => resolver.close() };
      },
    },
  ];
  const lines: string[] = [];
  const summary: string[] = [];
  try {
    for (const deadShare of DEAD_SHARES) {
      const names = workload(deadShare);
      const results = new Map<string, RunResult[]>(resolvers.map((r) => [r.name, []]));
      for (let round = 1; round <= ROUNDS; round++) {
        for (const r of round % 2 === 1 ? resolvers : [...resolvers].reverse()) {
          const made = r.make();
          const result = await run(made.resolve, names, () => dns.queries.length);
          made.close();
          results.get(r.name)?.push(result);
          log(
            `dead ${deadShare}, round ${round}, ${r.name}: ${(result.liveDone / result.liveSeconds).toFixed(0)} live lookups/s, ` +
              `p99 ${percentile(sorted(result.latenciesMs), 99).toFixed(0)} ms, ${result.queries} queries, ${result.seconds.toFixed(1)} s`,
          );
          // Let the dead names' queries of one run time out before the next starts.
          await new Promise((resolve) => setTimeout(resolve, 4_000));
        }
      }
      lines.push(
        '',
        `### ${deadShare === 0 ? 'Every name answers' : `${(deadShare * 100).toFixed(0)}% of lookups are names whose DNS never answers`}`,
        '',
        '| resolver | round | live lookups/s | p50 | p99 | live failed | dead tried | queries sent | seconds |',
        '|---|---|---|---|---|---|---|---|---|',
      );
      const rates = new Map<string, number[]>();
      for (const [name, runs] of results) {
        runs.forEach((r, i) => {
          const rate = r.liveDone / r.liveSeconds;
          rates.set(name, [...(rates.get(name) ?? []), rate]);
          lines.push(
            `| ${name} | ${i + 1} | ${rate.toFixed(0)} | ${percentile(sorted(r.latenciesMs), 50).toFixed(1)} ms | ` +
              `${percentile(sorted(r.latenciesMs), 99).toFixed(1)} ms | ${r.liveFailed} | ${r.deadDone} | ${r.queries} | ${r.seconds.toFixed(1)} |`,
          );
        });
      }
      const [before, uncached, now] = resolvers.map((r) => rates.get(r.name) ?? []);
      const ratios = (xs: number[] = []) =>
        xs.map((rate, i) => `${(rate / ((before ?? [])[i] as number)).toFixed(1)} ×`).join(', ');
      summary.push(
        `- ${deadShare === 0 ? 'every name answers' : `${(deadShare * 100).toFixed(0)}% dead names`}: ` +
          `the relay's resolver ${ratios(now)} the live lookups/s of \`dns.lookup\` (round by round); ` +
          `with its cache off ${ratios(uncached)}`,
      );
    }
  } finally {
    await dns.close();
  }
  const report = [
    '# DNS at the relay: `TargetResolver` against `dns.lookup`',
    '',
    `\`npx -y pnpm@12.4.2 loadtest:dns\`, ${new Date().toISOString()}: ${LOOKUPS} lookups per run at concurrency ${CONCURRENCY}, ` +
      `names Zipf-like over ${SITES} sites, the server answering live names after ${DELAY_MS} ms, ${ROUNDS} rounds alternating. ` +
      "glibc: `options timeout:1 attempts:2`; the relay's resolver: its defaults (1 s per try, 2 tries). " +
      `A run stops issuing lookups after ${MAX_MS / 1000} s.`,
    '',
    ...summary,
    ...lines,
    '',
  ].join('\n');
  await mkdir(new URL('results/', import.meta.url), { recursive: true });
  await writeFile(new URL('results/dns.md', import.meta.url), report);
  log('report: loadtest/results/dns.md');
  process.stdout.write(`${summary.join('\n')}\n`);
}
