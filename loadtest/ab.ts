/**
 * This tree's Meadow against another checkout's, in one run: both networks run side by side and
 * their runs alternate (A B B A …), so the machine's swings hit both alike. Sequential runs of the
 * same code moved by up to 2 × in throughput and ±15% in CPU per tunnel on this shared machine;
 * this is how a change to the data path or the tunnel set-up is judged.
 *
 *   git worktree add /tmp/meadow-base <rev> && (cd /tmp/meadow-base && npx -y pnpm@12.4.2 install --offline)
 *   npx -y pnpm@12.4.2 loadtest:bulk-ab -- --base /tmp/meadow-base [--rounds 6 --mib 256 --path meadow-connect]
 *   npx -y pnpm@12.4.2 loadtest:crawler-ab -- --base /tmp/meadow-base [--rounds 8 --seconds 5 --concurrency 64]
 *   npx -y pnpm@12.4.2 loadtest:bulk-ab -- --base-flags=--max-semi-space-size=32   (this tree against itself
 *     with other Node flags for the base network's gateway and relay; flags separated by spaces)
 *
 * bulk: one download of `--mib` per run; MB/s, CPU-ms and write system calls per MB.
 * crawler: a new tunnel per 1 KiB GET at `--concurrency` for `--seconds` per run; tunnels/s, CPU
 * µs and write system calls per tunnel. CPU is the gateway's and the relay's together.
 * The first round warms both up and is not counted (crawler: after `warmUpCrawler` on each, in
 * alternating quarters, since V8 compiles the tunnel set-up for tens of thousands of tunnels); the
 * report gives medians over the others. An A/A run (`--base` a checkout of this tree) shows the
 * harness's own bias: ±4% in CPU per tunnel with the alternating warm-up, 8.5% against this tree's
 * network without it (docs/performance.md).
 * Each network rests while the other runs, and V8 resizes its heap in those pauses: a change to
 * heap sizing is confirmed under steady load too (a 32 MiB young generation took 0.88 × the CPU per
 * tunnel here and the same CPU over five minutes of steady load, docs/performance.md).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type LocalNetwork, startLocalNetwork } from '@meadow/cli';
import { scriptArgs } from './lib/args.ts';
import { meadowPaths } from './lib/paths.ts';
import { median, totalUsage } from './lib/proc-usage.ts';
import { CRAWLER_WARMUP, crawlFor, download, warmUpCrawler } from './lib/scenarios.ts';

const { values } = parseArgs({
  args: scriptArgs(),
  options: {
    scenario: { type: 'string', default: 'bulk' },
    base: { type: 'string' },
    'base-flags': { type: 'string' },
    rounds: { type: 'string' },
    mib: { type: 'string', default: '256' },
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '64' },
    path: { type: 'string', default: 'meadow-connect' },
  },
});
if (values.base == null && values['base-flags'] == null)
  throw new Error('--base <path of another checkout, installed> or --base-flags <Node flags> is required');
if (values.scenario !== 'bulk' && values.scenario !== 'crawler') throw new Error('--scenario must be bulk or crawler');
const CRAWLER = values.scenario === 'crawler';
const ROUNDS = Number(values.rounds ?? (CRAWLER ? 8 : 6));
const BYTES = Number(values.mib) * 1024 * 1024;
const unit = CRAWLER ? 'tunnel' : 'MB';
const baseCli =
  values.base == null
    ? { startLocalNetwork }
    : ((await import(pathToFileURL(resolve(values.base, 'packages/cli/src/index.ts')).href)) as {
        startLocalNetwork: typeof startLocalNetwork;
      });
const baseFlags = values['base-flags']?.split(/\s+/).filter((f) => f !== '') ?? [];

const dirs = [await mkdtemp(join(tmpdir(), 'meadow-ab-')), await mkdtemp(join(tmpdir(), 'meadow-ab-'))];
const nets: Record<string, LocalNetwork> = {};
try {
  nets.this = await startLocalNetwork({ dir: dirs[0] as string, relays: 1, countries: ['DE'] });
  nets.base = await baseCli.startLocalNetwork({
    dir: dirs[1] as string,
    relays: 1,
    countries: ['DE'],
    ...(baseFlags.length > 0 ? { nodeFlags: baseFlags } : {}),
  });
  for (const net of Object.values(nets)) await net.waitForRoutableRelays(1, 60_000);
  if (CRAWLER) {
    // In quarters, alternating: warmed up one after the other, the first network sat idle through
    // the second's warm-up (~30 s), long enough for the relay's idle trim and V8's memory reducer,
    // and then spent 4–9% more CPU per tunnel than the second through every round of an A/A run.
    const quarter = { tunnels: CRAWLER_WARMUP.tunnels / 4, ms: CRAWLER_WARMUP.ms / 4 };
    const warmPaths = Object.entries(nets).map(([name, net]) => {
      const path = meadowPaths(net).find((p) => p.name === values.path);
      if (path == null) throw new Error(`no path ${values.path}`);
      return { name, path, host: net.origin.host };
    });
    for (let part = 1; part <= 4; part++) {
      for (const { name, path, host } of warmPaths) {
        const { ok, failed } = await warmUpCrawler(path, host, Number(values.concurrency), quarter);
        process.stdout.write(`${name}: crawler warm-up ${part}/4 done, ${ok} tunnels (${failed} failed)\n`);
      }
    }
  }
  const figures: Record<string, { rate: number[]; cpu: number[]; writes: number[] }> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of round % 2 === 0 ? ['this', 'base'] : ['base', 'this']) {
      const net = nets[name] as LocalNetwork;
      const path = meadowPaths(net).find((p) => p.name === values.path);
      if (path == null) throw new Error(`no path ${values.path}`);
      const pids = [net.gateway.service.process.pid as number, net.relays[0]?.service.process.pid as number];
      const before = await totalUsage(pids);
      let units: number;
      let rate: number;
      if (CRAWLER) {
        const seconds = Number(values.seconds);
        const { ok, failed } = await crawlFor(path, net.origin.host, seconds * 1000, Number(values.concurrency));
        if (failed > 0) process.stdout.write(`round ${round} ${name}: ${failed} tunnels failed\n`);
        units = ok;
        rate = ok / seconds;
      } else {
        const { received, seconds } = await download(path, net.origin.host, BYTES);
        units = received / 1e6;
        rate = units / seconds;
      }
      const after = await totalUsage(pids);
      const row = {
        rate,
        cpu: ((after.cpuMs - before.cpuMs) * (CRAWLER ? 1000 : 1)) / units,
        writes: (after.writes - before.writes) / units,
      };
      process.stdout.write(`round ${round} ${name}: ${format(row)}${round === 0 ? ' (warm-up)' : ''}\n`);
      if (round === 0) continue;
      figures[name] ??= { rate: [], cpu: [], writes: [] };
      const f = figures[name];
      f.rate.push(row.rate);
      f.cpu.push(row.cpu);
      f.writes.push(row.writes);
    }
  }
  for (const [name, f] of Object.entries(figures)) {
    process.stdout.write(
      `median ${name}: ${format({ rate: median(f.rate), cpu: median(f.cpu), writes: median(f.writes) })} (gateway + relay)\n`,
    );
  }
  const [a, b] = [figures.this, figures.base];
  if (a != null && b != null) {
    process.stdout.write(
      `this ÷ base: ${(median(a.rate) / median(b.rate)).toFixed(3)} × the rate, ${(median(a.cpu) / median(b.cpu)).toFixed(3)} × the CPU per ${unit}\n`,
    );
  }
} finally {
  for (const net of Object.values(nets)) await net.stop();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
}

function format(row: { rate: number; cpu: number; writes: number }): string {
  return CRAWLER
    ? `${row.rate.toFixed(0)} tunnels/s, ${row.cpu.toFixed(0)} CPU-µs and ${row.writes.toFixed(1)} writes per tunnel`
    : `${row.rate.toFixed(0)} MB/s, ${row.cpu.toFixed(2)} CPU-ms and ${row.writes.toFixed(1)} writes per MB`;
}
