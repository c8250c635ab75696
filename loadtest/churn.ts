/**
 * Relay churn under crawler load, on this machine (loopback only, bounded in time).
 *
 *   npx -y pnpm@12.4.2 loadtest:churn [-- --seconds 180 --relays 10 --concurrency 64]
 *
 * Starts a gateway and `relays` relays, runs crawler load (GET / over a fresh SOCKS5 tunnel per
 * request, `concurrency` at once), and every 30 s SIGKILLs one relay (10% per 30 s: 20% of the
 * relays per minute) and starts a new one in its place. Reports the success rate of new tunnels,
 * excluding tunnels that were already open on a relay when it was killed, as the issue defines it,
 * and writes loadtest/results/churn.md.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startLocalNetwork } from '@meadow/cli';
import { scriptArgs } from './lib/args.ts';
import { crawl, percentile, type RequestOutcome } from './lib/crawler-load.ts';

const { values } = parseArgs({
  args: scriptArgs(),
  options: {
    seconds: { type: 'string', default: '180' },
    relays: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '64' },
  },
});
const SECONDS = Number(values.seconds);
const RELAYS = Number(values.relays);
const CONCURRENCY = Number(values.concurrency);
const KILL_EVERY_MS = 30_000;
const log = (text: string): void => void process.stdout.write(`${text}\n`);

const dir = await mkdtemp(join(tmpdir(), 'meadow-churn-'));
const net = await startLocalNetwork({ dir, relays: RELAYS, countries: ['DE'] });
try {
  await net.waitForRoutableRelays(RELAYS, 120_000);
  log(
    `${RELAYS} relays routable; crawler load at concurrency ${CONCURRENCY} for ${SECONDS} s, one relay killed every 30 s`,
  );
  const outcomes: RequestOutcome[] = [];
  const killed: Array<{ address: string; at: number }> = [];
  const stop = AbortSignal.timeout(SECONDS * 1_000);
  const load = crawl(net, { concurrency: CONCURRENCY, signal: stop }, (o) => outcomes.push(o));
  let next = 0;
  const churn = setInterval(() => {
    const alive = net.relays.filter((r) => r.service.running);
    const victim = alive[next++ % alive.length];
    if (victim == null) return;
    victim.service.kill('SIGKILL');
    killed.push({ address: victim.egressAddress, at: Date.now() });
    log(`  ${new Date().toISOString()} killed ${victim.egressAddress}; ${outcomes.length} requests so far`);
    net.addRelay({ country: 'DE' }).then(
      (r) => log(`  ${new Date().toISOString()} started ${r.egressAddress} in its place`),
      (err: Error) => log(`  could not start a replacement: ${err.message}`),
    );
  }, KILL_EVERY_MS);
  await load;
  clearInterval(churn);
  if (!net.gateway.service.running) log(`THE GATEWAY EXITED:\n${net.gateway.service.tail(60)}`);

  const killedAddresses = new Set(killed.map((k) => k.address));
  const setupFailures = outcomes.filter((o) => o.setupError != null);
  const broken = outcomes.filter((o) => o.brokenError != null);
  const brokenOnVictims = broken.filter((o) => o.relay != null && killedAddresses.has(o.relay));
  const brokenElsewhere = broken.filter((o) => !brokenOnVictims.includes(o));
  const newTunnels = outcomes.length - brokenOnVictims.length;
  const failures = setupFailures.length + brokenElsewhere.length;
  const rate = (newTunnels - failures) / newTunnels;
  const setup = outcomes
    .filter((o) => o.setupMs != null)
    .map((o) => o.setupMs as number)
    .sort((a, b) => a - b);
  const reasons = new Map<string, number>();
  for (const o of [...setupFailures, ...brokenElsewhere]) {
    const r = o.setupError ?? o.brokenError ?? '?';
    reasons.set(r, (reasons.get(r) ?? 0) + 1);
  }
  const lines = [
    `# Relay churn under crawler load`,
    '',
    `\`npx -y pnpm@12.4.2 loadtest:churn -- --seconds ${SECONDS} --relays ${RELAYS} --concurrency ${CONCURRENCY}\`, ${new Date().toISOString()}, every process on this machine.`,
    '',
    `| figure | value |`,
    `|---|---|`,
    `| duration, relays, concurrency | ${SECONDS} s, ${RELAYS}, ${CONCURRENCY} |`,
    `| relays killed (SIGKILL) and replaced | ${killed.length} (${((killed.length / RELAYS / SECONDS) * 60 * 100).toFixed(0)}% of the relays per minute) |`,
    `| requests (one new tunnel each) | ${outcomes.length} (${(outcomes.length / SECONDS).toFixed(0)}/s) |`,
    `| tunnels already open on a relay when it was killed (excluded) | ${brokenOnVictims.length} |`,
    `| new tunnels that failed to set up | ${setupFailures.length} |`,
    `| tunnels that broke on a relay that was not killed | ${brokenElsewhere.length} |`,
    `| **success rate of new tunnels** | **${(rate * 100).toFixed(3)}%** (${newTunnels - failures} of ${newTunnels}) |`,
    `| tunnel setup p50 / p99 / max | ${percentile(setup, 50).toFixed(1)} / ${percentile(setup, 99).toFixed(1)} / ${(setup.at(-1) ?? 0).toFixed(1)} ms |`,
    '',
    reasons.size === 0
      ? 'No failures.'
      : `Failures by reason: ${[...reasons].map(([r, n]) => `${n} × ${r}`).join('; ')}`,
  ];
  const report = lines.join('\n');
  log(`\n${report}`);
  const results = new URL('./results/', import.meta.url);
  await mkdir(results, { recursive: true });
  await writeFile(new URL('churn.md', results), `${report}\n`);
  process.exitCode = rate >= 0.999 ? 0 : 1;
} finally {
  await net.stop();
  await rm(dir, { recursive: true, force: true });
}
