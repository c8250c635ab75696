/**
 * Bulk through this tree's Meadow against another checkout's, in one run: both networks run side by
 * side and their downloads alternate (A B B A …), so the machine's swings hit both alike. Sequential
 * runs of the same code moved by up to 2 × in throughput and CPU per byte on this shared machine;
 * this is how a change to the data path is judged.
 *
 *   git worktree add /tmp/meadow-base <rev> && (cd /tmp/meadow-base && npx -y pnpm@12.4.2 install --offline)
 *   node loadtest/bulk-ab.ts --base /tmp/meadow-base [--rounds 6 --mib 256 --path meadow-connect]
 *
 * The first round warms both up and is not counted; the report gives medians over the others.
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
import { download } from './lib/scenarios.ts';

const { values } = parseArgs({
  args: scriptArgs(),
  options: {
    base: { type: 'string' },
    rounds: { type: 'string', default: '6' },
    mib: { type: 'string', default: '256' },
    path: { type: 'string', default: 'meadow-connect' },
  },
});
if (values.base == null) throw new Error('--base <path of another checkout, installed> is required');
const BYTES = Number(values.mib) * 1024 * 1024;
const baseCli = (await import(pathToFileURL(resolve(values.base, 'packages/cli/src/index.ts')).href)) as {
  startLocalNetwork: typeof startLocalNetwork;
};

const dirs = [await mkdtemp(join(tmpdir(), 'meadow-ab-')), await mkdtemp(join(tmpdir(), 'meadow-ab-'))];
const nets: Record<string, LocalNetwork> = {};
try {
  nets.this = await startLocalNetwork({ dir: dirs[0] as string, relays: 1, countries: ['DE'] });
  nets.base = await baseCli.startLocalNetwork({ dir: dirs[1] as string, relays: 1, countries: ['DE'] });
  for (const net of Object.values(nets)) await net.waitForRoutableRelays(1, 60_000);
  const figures: Record<string, { mbPerSecond: number[]; cpuMsPerMb: number[]; writesPerMb: number[] }> = {};
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const name of round % 2 === 0 ? ['this', 'base'] : ['base', 'this']) {
      const net = nets[name] as LocalNetwork;
      const path = meadowPaths(net).find((p) => p.name === values.path);
      if (path == null) throw new Error(`no path ${values.path}`);
      const pids = [net.gateway.service.process.pid as number, net.relays[0]?.service.process.pid as number];
      const before = await totalUsage(pids);
      const { received, seconds } = await download(path, net.origin.host, BYTES);
      const after = await totalUsage(pids);
      const mb = received / 1e6;
      const row = { mb: mb / seconds, cpu: (after.cpuMs - before.cpuMs) / mb };
      const writes = (after.writes - before.writes) / mb;
      process.stdout.write(
        `round ${round} ${name}: ${row.mb.toFixed(0)} MB/s, ${row.cpu.toFixed(2)} CPU-ms and ${writes.toFixed(1)} writes per MB${round === 0 ? ' (warm-up)' : ''}\n`,
      );
      if (round === 0) continue;
      figures[name] ??= { mbPerSecond: [], cpuMsPerMb: [], writesPerMb: [] };
      const f = figures[name];
      f.mbPerSecond.push(row.mb);
      f.cpuMsPerMb.push(row.cpu);
      f.writesPerMb.push(writes);
    }
  }
  for (const [name, f] of Object.entries(figures)) {
    process.stdout.write(
      `median ${name}: ${median(f.mbPerSecond).toFixed(0)} MB/s, ${median(f.cpuMsPerMb).toFixed(2)} CPU-ms and ${median(f.writesPerMb).toFixed(1)} writes per MB (gateway + relay)\n`,
    );
  }
} finally {
  for (const net of Object.values(nets)) await net.stop();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
}
