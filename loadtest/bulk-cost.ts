/**
 * What moving bulk data costs the proxy's processes: CPU time and read/write system calls per MB
 * of one download, for Meadow (gateway + relay) and for the raw libp2p stream and the two-hop Node
 * pass-through (each also two processes), measured in the same run (loopback only).
 *
 *   npx -y pnpm@12.4.2 loadtest:bulk-cost [-- --rounds 4 --mib 256]
 *
 * Throughput of one transfer swings by tens of percent between identical runs on this shared
 * machine; system calls per MB do not move with noise, and CPU per MB moves far less than MB/s.
 * Every path first moves one unmeasured transfer (the libp2p paths' first few hundred MB run at a
 * fraction of their later rate); then paths run in turn within each round (A B C A B C …), and the
 * report gives the median over rounds. It also gives how busy each of the two processes and the
 * whole machine were: CPU per MB alone does not say whether a path was bound by CPU at all.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { scriptArgs } from './lib/args.ts';
import { startCostPaths } from './lib/paths.ts';
import { coresBusy, machineTicks, mediansByPath, sumUsage, usageOf } from './lib/proc-usage.ts';
import { download } from './lib/scenarios.ts';

const { values } = parseArgs({
  args: scriptArgs(),
  options: {
    rounds: { type: 'string', default: '4' },
    mib: { type: 'string', default: '256' },
  },
});
const ROUNDS = Number(values.rounds);
const BYTES = Number(values.mib) * 1024 * 1024;
const percent = (share: number): string => `${(share * 100).toFixed(0)}%`;
const log = (text: string): void => void process.stdout.write(`${new Date().toISOString()} ${text}\n`);

const dir = await mkdtemp(join(tmpdir(), 'meadow-bulk-cost-'));
const { net, paths, pidsOf, stop } = await startCostPaths(dir);
try {
  for (const path of paths) await download(path, net.origin.host, BYTES); // warm-up, not measured
  log('warm-up done');

  const rows = new Map<
    string,
    {
      mbPerSecond: number;
      cpuMsPerMb: number;
      reads: number;
      writes: number;
      firstHopBusy: number;
      secondHopBusy: number;
      machineBusy: number;
    }[]
  >();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const path of paths) {
      const pids = pidsOf(path);
      const [hopsBefore, machineBefore] = await Promise.all([Promise.all(pids.map(usageOf)), machineTicks()]);
      const { received, seconds } = await download(path, net.origin.host, BYTES);
      const [hopsAfter, machineAfter] = await Promise.all([Promise.all(pids.map(usageOf)), machineTicks()]);
      const [before, after] = [sumUsage(hopsBefore), sumUsage(hopsAfter)];
      const busy = (hop: number): number =>
        ((hopsAfter[hop]?.cpuMs ?? 0) - (hopsBefore[hop]?.cpuMs ?? 0)) / 1000 / seconds;
      const mb = received / 1e6;
      const figures = {
        mbPerSecond: mb / seconds,
        cpuMsPerMb: (after.cpuMs - before.cpuMs) / mb,
        reads: (after.reads - before.reads) / mb,
        writes: (after.writes - before.writes) / mb,
        firstHopBusy: busy(0),
        secondHopBusy: busy(1),
        machineBusy: coresBusy(machineBefore, machineAfter),
      };
      rows.set(path.name, [...(rows.get(path.name) ?? []), figures]);
      log(
        `round ${round} ${path.name}: ${figures.mbPerSecond.toFixed(0)} MB/s, ${figures.cpuMsPerMb.toFixed(2)} CPU-ms, ${figures.reads.toFixed(1)} reads + ${figures.writes.toFixed(1)} writes per MB; hops busy ${percent(figures.firstHopBusy)} + ${percent(figures.secondHopBusy)}, machine ${figures.machineBusy.toFixed(2)} cores`,
      );
    }
  }
  const summary = mediansByPath(rows);
  const libp2p = summary.find((s) => s.name === 'libp2p');
  const report = [
    '# What bulk data costs the proxy',
    '',
    `\`npx -y pnpm@12.4.2 loadtest:bulk-cost -- --rounds ${ROUNDS} --mib ${values.mib}\`, ended ${new Date().toISOString()}.`,
    `One download of ${values.mib} MiB per run, after one unmeasured run per path; CPU time and read/write`,
    "system calls of the path's two processes (Meadow: gateway + relay) per MB, median of the rounds;",
    'how much of the transfer each of the two was on a CPU, and how many cores the whole machine kept',
    `busy (of ${availableParallelism()}). A path whose processes and machine are far from busy while one`,
    'connection goes as fast as it can is waiting on something (a window, a round trip), not on the CPU:',
    'that is how a tunnel window that never grew showed up (docs/performance.md).',
    '',
    '| path | MB/s | CPU per MB | × raw libp2p | reads per MB | writes per MB | first hop busy | second hop busy | machine busy |',
    '|---|---|---|---|---|---|---|---|---|',
    ...summary.map(
      (s) =>
        `| ${s.name} | ${s.mbPerSecond.toFixed(0)} | ${s.cpuMsPerMb.toFixed(2)} ms | ${libp2p == null ? '—' : (s.cpuMsPerMb / libp2p.cpuMsPerMb).toFixed(2)} | ${s.reads.toFixed(1)} | ${s.writes.toFixed(1)} | ${percent(s.firstHopBusy)} | ${percent(s.secondHopBusy)} | ${s.machineBusy.toFixed(2)} cores |`,
    ),
  ].join('\n');
  log(`\n${report}`);
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  await writeFile(new URL('./results/bulk-cost.md', import.meta.url), `${report}\n`);
} finally {
  await stop();
  await rm(dir, { recursive: true, force: true });
}
