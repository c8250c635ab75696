/**
 * How relays spread over gateways when a second operator's gateway joins a settled network, with
 * relay trials (`gateways.trialEveryMs`). Loopback only, bounded (about 3 minutes).
 *
 *   npx -y pnpm@12.4.2 loadtest:gateway-trials [-- --relays 24 --trial-ms 5000 --intervals 24]
 *
 * A bootstrap node, gateway A and `--relays` real relays (in processes of 8) that keep one gateway
 * each and try another every `--trial-ms` (the product's default is 15 minutes: this is the same
 * process with a shorter clock). Once every relay is linked to A, gateway B joins, and crawlers use
 * both, B three times as much as A: each worker a fresh SOCKS5 tunnel per request (16 KiB), then a
 * 100 ms pause; 2 workers at A, 6 at B. Each gateway spreads its requests over its relays, so a
 * relay carries the most where a gateway has the most requests per relay, and the split the demand
 * asks for is 1:3. Every second the script records how many relays each gateway can route to; the
 * report (`results/gateway-trials.md`) gives the split per interval, how many relays moved, and
 * every request that failed, by gateway and reason: B's before it had any relay (expected: it
 * answers 503), and any other (expected: none, since a relay let go finishes its open tunnels).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ChildService, type LocalNetwork, startLocalNetwork } from '@meadow/cli';
import { anotherGatewayConfig } from '../test/harness.ts';
import { scriptArgs } from './lib/args.ts';
import { crawl, type RequestOutcome } from './lib/crawler-load.ts';
import { gatewayStatus } from './lib/gateway-status.ts';
import { type Swarm, startSwarm, stopSwarm } from './lib/swarm.ts';

const { values } = parseArgs({
  args: scriptArgs(),
  options: {
    relays: { type: 'string', default: '24' },
    'trial-ms': { type: 'string', default: '5000' },
    intervals: { type: 'string', default: '24' },
  },
});
const RELAYS = Number(values.relays);
const TRIAL_MS = Number(values['trial-ms']);
const INTERVALS = Number(values.intervals);
const PER_SWARM = 8;
const WORKERS = { a: 2, b: 6 };
const PAUSE_MS = 100;

const log = (text: string): void => void process.stdout.write(`${new Date().toISOString()} ${text}\n`);

async function routableAt(admin: string): Promise<Set<string>> {
  return new Set((await gatewayStatus(admin)).relays.filter((r) => r.routable).map((r) => r.peerId));
}

const dir = await mkdtemp(join(tmpdir(), 'meadow-gateway-trials-'));
const swarms: Swarm[] = [];
let joined: ChildService | undefined;
const net = await startLocalNetwork({ dir, relays: 0, onProgress: (_s, d) => log(`  ${d}`) });
try {
  const allowTarget = `127.0.0.1:${net.origin.port}`;
  for (let first = 0; first < RELAYS; first += PER_SWARM) {
    swarms.push(
      await startSwarm({
        dir: join(dir, `swarm-${first}`),
        bootstrap: net.bootstrap.multiaddr,
        firstEgress: 2 + first,
        count: Math.min(PER_SWARM, RELAYS - first),
        allowTarget,
        countries: ['DE'],
        trialEveryMs: TRIAL_MS,
      }),
    );
  }
  const relays = swarms.flatMap((s) => s.relays.map((r) => r.peerId));
  const deadline = Date.now() + 120_000;
  while ((await routableAt(net.gateway.adminUrl)).size < relays.length) {
    if (Date.now() > deadline) throw new Error(`not all ${relays.length} relays routable at gateway A in 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  log(`all ${relays.length} relays routable at gateway A; gateway B joins`);

  const configPath = await anotherGatewayConfig(net.gateway.configPath, dir, 'gateway-b');
  joined = new ChildService('gateway-b', ['gateway', 'start', '--config', configPath]);
  const ready = (await joined.ready) as { socks: string; admin: string };
  const [host, port] = ready.socks.split(':') as [string, string];
  const netB: LocalNetwork = { ...net, gateway: { ...net.gateway, socks: { host, port: Number(port) } } };

  const joinedAt = Date.now();
  const stop = AbortSignal.timeout(INTERVALS * TRIAL_MS);
  const outcomes: Record<'a' | 'b', RequestOutcome[]> = { a: [], b: [] };
  const loads = [
    crawl(net, { concurrency: WORKERS.a, signal: stop, pauseMs: PAUSE_MS }, (o) => outcomes.a.push(o)),
    crawl(netB, { concurrency: WORKERS.b, signal: stop, pauseMs: PAUSE_MS }, (o) => outcomes.b.push(o)),
  ];
  const samples: Array<{ at: number; a: Set<string>; b: Set<string> }> = [];
  while (!stop.aborted) {
    const [a, b] = await Promise.all([routableAt(net.gateway.adminUrl), routableAt(ready.admin)]);
    samples.push({ at: Date.now() - joinedAt, a, b });
    if (samples.length % 5 === 0) log(`  ${((Date.now() - joinedAt) / 1000).toFixed(0)} s: A ${a.size}, B ${b.size}`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  await Promise.all(loads);

  const firstBRelayAt = samples.find((s) => s.b.size > 0)?.at ?? Number.POSITIVE_INFINITY;
  const failed = (o: RequestOutcome) => o.setupError != null || o.brokenError != null;
  const reasons = (list: RequestOutcome[]) => {
    const counts = new Map<string, number>();
    for (const o of list) {
      const why = o.setupError ?? o.brokenError ?? '';
      counts.set(why, (counts.get(why) ?? 0) + 1);
    }
    return [...counts].map(([why, n]) => `${n} × ${why}`).join('; ') || 'none';
  };
  const beforeB = outcomes.b.filter((o) => o.at - joinedAt < firstBRelayAt && failed(o));
  const otherFailures = [...outcomes.a.filter(failed), ...outcomes.b.filter((o) => failed(o) && !beforeB.includes(o))];

  // A relay's home is the one gateway it is linked to; on trial (linked to both) it has not moved yet.
  const moves: Array<{ at: number; to: 'a' | 'b' }> = [];
  const homes = new Map<string, 'a' | 'b'>();
  for (const sample of samples)
    for (const id of relays) {
      const now = sample.a.has(id) === sample.b.has(id) ? undefined : sample.a.has(id) ? 'a' : 'b';
      if (now == null) continue;
      const before = homes.get(id);
      if (before != null && before !== now) moves.push({ at: sample.at, to: now });
      homes.set(id, now);
    }
  const rows: string[] = [];
  for (let i = 1; i <= INTERVALS; i++) {
    const end = i * TRIAL_MS;
    const sample = samples.filter((s) => s.at <= end).at(-1);
    if (sample == null) continue;
    const both = [...sample.a].filter((id) => sample.b.has(id)).length;
    const inWindow = <T extends { at: number }>(list: T[], at: (item: T) => number) =>
      list.filter((item) => at(item) > end - TRIAL_MS && at(item) <= end);
    const moved = (to: 'a' | 'b') => inWindow(moves, (m) => m.at).filter((m) => m.to === to).length;
    const done = (list: RequestOutcome[]) => inWindow(list, (o) => o.at - joinedAt).filter((o) => !failed(o)).length;
    rows.push(
      `| ${(end / 1000).toFixed(0)} s | ${sample.a.size} | ${sample.b.size} | ${both} | ${moved('b')} / ${moved('a')} | ${done(outcomes.a)} | ${done(outcomes.b)} |`,
    );
  }
  // The second half: the network has had time to settle after B joined.
  const settled = samples.filter((s) => s.at > (INTERVALS * TRIAL_MS) / 2);
  const mean = (pick: (s: (typeof samples)[number]) => number) =>
    settled.reduce((sum, s) => sum + pick(s), 0) / Math.max(1, settled.length);
  const [meanA, meanB] = [mean((s) => s.a.size), mean((s) => s.b.size)];
  const settledMoves = moves.filter((m) => m.at > (INTERVALS * TRIAL_MS) / 2).length;
  const onTrial = mean((s) => [...s.a].filter((id) => s.b.has(id)).length);
  const report = [
    '# Relays spreading over gateways: trials',
    '',
    `\`npx -y pnpm@12.4.2 loadtest:gateway-trials -- --relays ${RELAYS} --trial-ms ${TRIAL_MS} --intervals ${INTERVALS}\`, ended ${new Date().toISOString()}.`,
    `${RELAYS} relays keep one gateway each and try another every ${TRIAL_MS / 1000} s (±50%). All were linked to gateway A when`,
    `gateway B joined at 0 s. Crawlers then used both, B three times as much (${WORKERS.b} workers against ${WORKERS.a}, each a`,
    `new SOCKS5 tunnel per request, then ${PAUSE_MS} ms of pause), so the relays a gateway can route to`,
    'are best split 1:3: then every relay carries the same number of requests.',
    '',
    `B's first relay came after **${(firstBRelayAt / 1000).toFixed(1)} s**. Over the second half of the run, A could route to`,
    `**${meanA.toFixed(1)}** relays on average and B to **${meanB.toFixed(1)}** (A's share **${((100 * meanA) / (meanA + meanB)).toFixed(0)}%**, the demand's 25%),`,
    `counting relays on trial at both (${onTrial.toFixed(1)} on average); relays moved ${settledMoves} times in it.`,
    '',
    '| at the end of | relays A can route to | B can route to | of them on trial (at both) | moved A → B / B → A in the interval | requests done at A | at B |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `Failed requests at B before it had a relay (it answers 503): ${beforeB.length} (${reasons(beforeB)}).`,
    `Any other failed request, at either gateway: **${otherFailures.length}** (${reasons(otherFailures)}), of ${outcomes.a.length + outcomes.b.length} requests.`,
    '',
  ].join('\n');
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  await writeFile(new URL('./results/gateway-trials.md', import.meta.url), report);
  log(`\n${report}`);
} finally {
  await joined?.stop();
  await Promise.all(swarms.map(stopSwarm));
  await net.stop();
  await rm(dir, { recursive: true, force: true });
}
