/**
 * What one new tunnel costs the proxy's processes: CPU time and read/write system calls per
 * tunnel, for Meadow (gateway + relay) and for the two-hop Node pass-through (without and with a
 * CONNECT handshake) and the raw libp2p stream (each also two processes), measured in the same run
 * (loopback only).
 *
 *   npx -y pnpm@12.4.2 loadtest:tunnel-cost [-- --rounds 3 --seconds 6 --concurrency 8 --paths meadow-connect,pass2]
 *
 * CPU time per tunnel barely depends on how busy the shared machine is, unlike tunnels per second,
 * so this is the figure to watch when working on the crawler scenario: with every process on two
 * cores, tunnels per second at high concurrency is bounded by the CPU all the hops spend on each.
 * The load generator (this process) and the origin are measured too: their CPU per tunnel is part
 * of that bound, so the report also gives the crawler ratio the machine's CPU alone would allow.
 * Paths run in turn within each round (A B C A B C …); the report gives the median over rounds.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { scriptArgs } from './lib/args.ts';
import { startCostPaths } from './lib/paths.ts';
import { coresBusy, machineTicks, mediansByPath, sumUsage, usageOf } from './lib/proc-usage.ts';
import { crawlFor, warmUpCrawler } from './lib/scenarios.ts';

const { values } = parseArgs({
  args: scriptArgs(),
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '6' },
    concurrency: { type: 'string', default: '8' },
    // A subset of the paths, for quick comparisons; the report file is only written for all of them.
    paths: { type: 'string' },
  },
});
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const log = (text: string): void => void process.stdout.write(`${new Date().toISOString()} ${text}\n`);

const dir = await mkdtemp(join(tmpdir(), 'meadow-tunnel-cost-'));
const { net, paths: allPaths, pidsOf, stop } = await startCostPaths(dir);
try {
  const wanted = values.paths?.split(',').map((name) => name.trim());
  const unknown = wanted?.filter((name) => !allPaths.some((p) => p.name === name)) ?? [];
  if (unknown.length > 0)
    throw new Error(`--paths: no path named ${unknown.join(', ')} (paths: ${allPaths.map((p) => p.name).join(', ')})`);
  const paths = wanted == null ? allPaths : allPaths.filter((p) => wanted.includes(p.name));
  for (const path of paths) await warmUpCrawler(path, net.origin.host, CONCURRENCY);

  const originPid = net.origin.service.process.pid as number;
  const rows = new Map<
    string,
    {
      tunnelsPerSecond: number;
      cpuUs: number;
      firstHopUs: number;
      reads: number;
      writes: number;
      originUs: number;
      loadgenUs: number;
      machineBusy: number;
    }[]
  >();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const path of paths) {
      const pids = pidsOf(path);
      // Each process read once: the first hop's share and the sum come from the same readings.
      const before = await Promise.all(pids.map(usageOf));
      const originBefore = await usageOf(originPid);
      const loadgenBefore = process.cpuUsage();
      const machineBefore = await machineTicks();
      const { ok, failed } = await crawlFor(path, net.origin.host, SECONDS * 1000, CONCURRENCY);
      const machineAfter = await machineTicks();
      const loadgen = process.cpuUsage(loadgenBefore);
      const after = await Promise.all(pids.map(usageOf));
      const [total, totalBefore] = [sumUsage(after), sumUsage(before)];
      const firstHopMs = (after[0]?.cpuMs ?? 0) - (before[0]?.cpuMs ?? 0);
      const originAfter = await usageOf(originPid);
      const figures = {
        tunnelsPerSecond: ok / SECONDS,
        cpuUs: ((total.cpuMs - totalBefore.cpuMs) * 1000) / ok,
        firstHopUs: (firstHopMs * 1000) / ok,
        reads: (total.reads - totalBefore.reads) / ok,
        writes: (total.writes - totalBefore.writes) / ok,
        originUs: ((originAfter.cpuMs - originBefore.cpuMs) * 1000) / ok,
        loadgenUs: (loadgen.user + loadgen.system) / ok,
        machineBusy: coresBusy(machineBefore, machineAfter),
      };
      rows.set(path.name, [...(rows.get(path.name) ?? []), figures]);
      log(
        `round ${round} ${path.name}: ${ok} tunnels (${failed} failed), ${figures.cpuUs.toFixed(0)} µs CPU (first hop ${figures.firstHopUs.toFixed(0)}; origin ${figures.originUs.toFixed(0)}, load generator ${figures.loadgenUs.toFixed(0)}), ${figures.reads.toFixed(1)} reads + ${figures.writes.toFixed(1)} writes per tunnel; machine ${figures.machineBusy.toFixed(2)} cores busy`,
      );
    }
  }
  const summary = mediansByPath(rows);
  const pass2 = summary.find((s) => s.name === 'pass2');
  const machineUs = (s: (typeof summary)[number]): number => s.cpuUs + s.originUs + s.loadgenUs;
  const report = [
    '# What a new tunnel costs the proxy',
    '',
    `\`npx -y pnpm@12.4.2 loadtest:tunnel-cost -- --rounds ${ROUNDS} --seconds ${SECONDS} --concurrency ${CONCURRENCY}\`, ended ${new Date().toISOString()}.`,
    'One GET of 1 KiB over a fresh tunnel per request; CPU time and read/write system calls of the',
    "path's two processes (Meadow: gateway + relay) per completed tunnel, median of the rounds, and the",
    "first hop's share (the gateway, the process the client connects to; each figure is its own median); then",
    "the origin's and the load generator's CPU per tunnel, and all of it together. When the machine's",
    'cores are the only limit, tunnels per second go as the inverse of that sum: the last column is the',
    'ratio to the two-hop pass-through that CPU alone allows (the crawler target is 0.9). That bound',
    `holds where the machine was busy: the last column says how many of its ${availableParallelism()} cores were.`,
    '',
    '| path | tunnels/s | proxy CPU per tunnel | of which the first hop | × two-hop pass-through | reads per tunnel | writes per tunnel | origin CPU | load generator CPU | all CPU per tunnel | tunnels/s ratio CPU allows | machine busy |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...summary.map(
      (s) =>
        `| ${s.name} | ${s.tunnelsPerSecond.toFixed(0)} | ${s.cpuUs.toFixed(0)} µs | ${s.firstHopUs.toFixed(0)} µs | ${pass2 == null ? '—' : (s.cpuUs / pass2.cpuUs).toFixed(2)} | ${s.reads.toFixed(1)} | ${s.writes.toFixed(1)} | ${s.originUs.toFixed(0)} µs | ${s.loadgenUs.toFixed(0)} µs | ${machineUs(s).toFixed(0)} µs | ${pass2 == null ? '—' : (machineUs(pass2) / machineUs(s)).toFixed(2)} | ${s.machineBusy.toFixed(2)} cores |`,
    ),
  ].join('\n');
  log(`\n${report}`);
  if (wanted != null) {
    log('only some paths ran (--paths): results/tunnel-cost.md left as it was');
  } else {
    await mkdir(new URL('./results/', import.meta.url), { recursive: true });
    await writeFile(new URL('./results/tunnel-cost.md', import.meta.url), `${report}\n`);
  }
} finally {
  await stop();
  await rm(dir, { recursive: true, force: true });
}
