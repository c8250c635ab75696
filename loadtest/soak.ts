/**
 * A bounded soak with periodic faults, and a leak check (loopback only).
 *
 *   npx -y pnpm@12.4.2 loadtest:soak [-- --minutes 30 --concurrency 8]
 *
 * Runs crawler load at moderate concurrency for `minutes` while, every 2 minutes (less in short
 * runs), one fault hits
 * one of the "churned" relays in turn: SIGKILL and replace, SIGSTOP for 15 s, a graceful restart.
 * The gateway and two "stable" relays are never faulted: their open file descriptors, resident
 * memory and V8 heap are read after a warm-up and again after the load stops, each time after
 * 30 s idle and a full GC. The run fails (exit 1) if descriptors grow by more than 16, the heap by
 * more than 25% + 16 MiB or RSS by more than 25% + 32 MiB, or if new tunnels succeed less than
 * 99.9% of the time.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type LocalRelay, startLocalNetwork } from '@meadow/cli';
import { fetch } from 'undici';
import { scriptArgs } from './lib/args.ts';
import { crawl, type RequestOutcome } from './lib/crawler-load.ts';

const { values } = parseArgs({
  args: scriptArgs(),
  options: { minutes: { type: 'string', default: '30' }, concurrency: { type: 'string', default: '8' } },
});
const MINUTES = Number(values.minutes);
const CONCURRENCY = Number(values.concurrency);
// Shorter runs (for trying the script out) scale the warm-up and the fault interval down.
const FAULT_EVERY_MS = Math.min(120_000, (MINUTES * 60_000) / 4);
const WARMUP_MS = Math.min(120_000, (MINUTES * 60_000) / 2);
const IDLE_MS = 30_000;
const MiB = 1024 * 1024;
const log = (text: string): void => void process.stdout.write(`${new Date().toISOString()} ${text}\n`);

interface Snapshot {
  fds: number;
  rssBytes: number;
  heapUsedBytes: number;
}

async function snapshot(pid: number, metricsUrl: string, prefix: string): Promise<Snapshot> {
  const fds = (await readdir(`/proc/${pid}/fd`)).length;
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssBytes = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  const text = await (await fetch(metricsUrl)).text();
  const heapUsedBytes = Number(new RegExp(`^${prefix}_nodejs_heap_size_used_bytes (\\S+)`, 'm').exec(text)?.[1] ?? 0);
  return { fds, rssBytes, heapUsedBytes };
}

// Every service runs with --expose-gc (SERVICE_NODE_FLAGS) and gets SIGUSR2 (a full GC) before
// each measurement, so live memory is compared rather than garbage V8 has not collected yet.
const dir = await mkdtemp(join(tmpdir(), 'meadow-soak-'));
const net = await startLocalNetwork({ dir, relays: 5, countries: ['DE'] });
let failed = false;
try {
  await net.waitForRoutableRelays(5, 120_000);
  const stable = net.relays.slice(0, 2) as LocalRelay[];
  const churned = net.relays.slice(2);
  const watched = () => [
    {
      name: 'gateway',
      pid: net.gateway.service.process.pid as number,
      url: `${net.gateway.adminUrl}/metrics`,
      prefix: 'meadow_gateway',
    },
    ...stable.map((r) => ({
      name: r.service.name,
      pid: r.service.process.pid as number,
      url: `${r.statusUrl}/metrics`,
      prefix: 'meadow_relay',
    })),
  ];
  const measure = async () => {
    for (const w of watched()) process.kill(w.pid, 'SIGUSR2');
    await new Promise((r) => setTimeout(r, 3_000));
    return Object.fromEntries(
      await Promise.all(watched().map(async (w) => [w.name, await snapshot(w.pid, w.url, w.prefix)] as const)),
    );
  };

  log(`warm-up: ${WARMUP_MS / 1000} s of load`);
  await crawl(net, { concurrency: CONCURRENCY, signal: AbortSignal.timeout(WARMUP_MS) }, () => {});
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const baseline = await measure();
  log(`baseline ${JSON.stringify(baseline)}`);

  const outcomes: RequestOutcome[] = [];
  const faulted = new Set<string>();
  const stop = AbortSignal.timeout(MINUTES * 60_000);
  const load = crawl(net, { concurrency: CONCURRENCY, signal: stop }, (o) => outcomes.push(o));
  let round = 0;
  const faults = setInterval(() => {
    const alive = churned.filter((r) => r.service.running);
    const victim = alive[round % Math.max(1, alive.length)];
    const kind = (['kill', 'freeze', 'restart'] as const)[round % 3];
    round++;
    if (victim == null) return;
    faulted.add(victim.egressAddress);
    log(`fault ${round}: ${kind} ${victim.egressAddress}; ${outcomes.length} requests so far`);
    if (kind === 'kill') {
      victim.service.kill('SIGKILL');
      churned.splice(churned.indexOf(victim), 1);
      net.addRelay({ country: 'DE' }).then(
        (r) => churned.push(r),
        (err: Error) => log(`replacement failed: ${err.message}`),
      );
    } else if (kind === 'freeze') {
      victim.service.kill('SIGSTOP');
      setTimeout(() => victim.service.kill('SIGCONT'), 15_000);
    } else {
      net.restartRelay(victim).then(
        (r) => churned.splice(churned.indexOf(victim), 1, r),
        (err: Error) => log(`restart failed: ${err.message}`),
      );
    }
  }, FAULT_EVERY_MS);
  await load;
  clearInterval(faults);
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const final = await measure();
  log(`final ${JSON.stringify(final)}`);

  const broken = outcomes.filter((o) => o.brokenError != null);
  const victims = broken.filter((o) => o.relay != null && faulted.has(o.relay));
  const newTunnels = outcomes.length - victims.length;
  const failures = outcomes.filter((o) => o.setupError != null).length + broken.length - victims.length;
  const rate = (newTunnels - failures) / newTunnels;
  const rows: string[] = [];
  for (const [name, before] of Object.entries(baseline)) {
    const after = final[name] as Snapshot;
    const leak =
      after.fds > before.fds + 16 ||
      after.heapUsedBytes > before.heapUsedBytes * 1.25 + 16 * MiB ||
      after.rssBytes > before.rssBytes * 1.25 + 32 * MiB;
    if (leak) failed = true;
    rows.push(
      `| ${name} | ${before.fds} → ${after.fds} | ${(before.rssBytes / MiB).toFixed(1)} → ${(after.rssBytes / MiB).toFixed(1)} MiB | ${(before.heapUsedBytes / MiB).toFixed(1)} → ${(after.heapUsedBytes / MiB).toFixed(1)} MiB | ${leak ? '✗' : '✓'} |`,
    );
  }
  if (rate < 0.999) failed = true;
  const report = [
    '# Soak with periodic faults',
    '',
    `\`npx -y pnpm@12.4.2 loadtest:soak -- --minutes ${MINUTES} --concurrency ${CONCURRENCY}\`, ended ${new Date().toISOString()}, every process on this machine.`,
    '',
    `${outcomes.length} requests (${(outcomes.length / MINUTES / 60).toFixed(0)}/s), ${round} faults (kill and replace, 15 s freeze, graceful restart, in turn);`,
    `new tunnels succeeded **${(rate * 100).toFixed(3)}%** (${newTunnels - failures} of ${newTunnels}; ${victims.length} tunnels open on a faulted relay excluded).`,
    '',
    'Never-faulted processes, after the warm-up and after the run, each after 30 s idle and a full GC:',
    '',
    '| process | open fds | RSS | V8 heap used | leak check |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  log(`\n${report}`);
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  await writeFile(new URL('./results/soak.md', import.meta.url), `${report}\n`);
} finally {
  await net.stop();
  await rm(dir, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
