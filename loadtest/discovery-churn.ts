/**
 * Discovery at scale and under churn, on this machine (loopback only, bounded in time).
 *
 *   npx -y pnpm@12.4.2 exec node loadtest/discovery-churn.ts
 *
 * Starts a bootstrap node, a gateway, 40 relays in 5 countries (in 5 processes of 8) and 8 DHT
 * lookup nodes: 50 DHT nodes. Reports the lookup success rate and median/p99 lookup times, then
 * SIGKILLs 20% of the relays and measures how long the gateway's pool takes to drop them, then
 * starts 8 new relays and measures how long until the gateway routes to them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalNetwork } from '@meadow/cli';
import { createDiscovery, type DiscoveryHandle } from '@meadow/discovery';
import { gatewayStatus } from './lib/gateway-status.ts';
import { type Swarm, startSwarm, stopSwarm } from './lib/swarm.ts';

const COUNTRIES = ['DE', 'FR', 'NL', 'US', 'JP'];
const SWARMS = 5;
const PER_SWARM = 8;
const LOOKUP_NODES = 8;
const LOOKUPS = 200;

const log = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

async function waitUntil(what: string, condition: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!(await condition())) {
    if (performance.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return performance.now() - started;
}

/** As waitUntil, but on failure prints the gateway's last log lines: they say why relays are not routable. */
async function waitUntilOrExplain(what: string, condition: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  try {
    return await waitUntil(what, condition, timeoutMs);
  } catch (err) {
    log(net.gateway.service.tail(40));
    throw err;
  }
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

const dir = await mkdtemp(join(tmpdir(), 'meadow-churn-'));
const swarms: Swarm[] = [];
const lookupNodes: DiscoveryHandle[] = [];
const net = await startLocalNetwork({ dir, relays: 0, onProgress: (_s, d) => log(`  ${d}`) });
try {
  const status = () => gatewayStatus(net.gateway.adminUrl);
  const allowTarget = `127.0.0.1:${net.origin.port}`;
  const started = performance.now();
  for (let s = 0; s < SWARMS; s++) {
    log(`  starting relays ${s * PER_SWARM + 1}-${(s + 1) * PER_SWARM}`);
    swarms.push(
      await startSwarm({
        dir: join(dir, `swarm-${s}`),
        bootstrap: net.bootstrap.multiaddr,
        firstEgress: 2 + s * PER_SWARM,
        count: PER_SWARM,
        allowTarget,
        countries: COUNTRIES,
      }),
    );
  }
  for (let i = 0; i < LOOKUP_NODES; i++) {
    lookupNodes.push(
      await createDiscovery({
        identityPath: join(dir, `lookup-${i}.key`),
        listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap: [net.bootstrap.multiaddr],
        dhtMode: 'server',
        allowPrivateAddresses: true,
        agentVersion: 'meadow-loadtest/lookup',
      }),
    );
  }
  const relays = swarms.flatMap((s) => s.relays);
  const dhtNodes = 2 + relays.length + lookupNodes.length;
  let lastReport = 0;
  const upMs = await waitUntilOrExplain(
    'all relays routable',
    async () => {
      const s = await status();
      const routable = s.relays.filter((r) => r.routable).length;
      if (performance.now() - lastReport > 5_000) {
        lastReport = performance.now();
        log(`  ${routable}/${relays.length} relays routable (${s.relays.length} linked)`);
      }
      return routable >= relays.length;
    },
    120_000,
  );
  log(
    `\n${dhtNodes} DHT nodes; ${relays.length} relays in ${COUNTRIES.length} countries routable after ${((performance.now() - started) / 1000).toFixed(1)} s (last ${(upMs / 1000).toFixed(1)} s of it waiting)`,
  );
  await waitUntil('every descriptor in the DHT', async () => swarms.every((s) => s.published), 60_000);
  log(`every relay's descriptor published in the DHT after ${((performance.now() - started) / 1000).toFixed(1)} s`);

  // Lookups: half by country (provider records), half by relay (descriptor records), from random nodes.
  const durations: number[] = [];
  let ok = 0;
  const okByKind = { country: 0, descriptor: 0 };
  const lookupDeadline = performance.now() + 90_000;
  let attempted = 0;
  for (let i = 0; i < LOOKUPS && performance.now() < lookupDeadline; i++) {
    attempted++;
    const node = lookupNodes[i % lookupNodes.length] as DiscoveryHandle;
    const t0 = performance.now();
    try {
      if (i % 2 === 0) {
        const country = COUNTRIES[(i / 2) % COUNTRIES.length] as string;
        const expected = relays.filter((r) => r.country === country).length;
        const found = await node.discovery.findRelayIds({ country, signal: AbortSignal.timeout(5_000) });
        if (found.length >= expected) {
          ok++;
          okByKind.country++;
        }
      } else {
        const relay = relays[Math.floor(Math.random() * relays.length)] as { peerId: string; country: string };
        const d = await node.discovery.fetchDescriptor(relay.peerId, { signal: AbortSignal.timeout(5_000) });
        if (d.country === relay.country) {
          ok++;
          okByKind.descriptor++;
        }
      }
    } catch {
      // counted as a failure
    }
    durations.push(performance.now() - t0);
  }
  durations.sort((a, b) => a - b);
  log(
    `lookups (5 s timeout each, ${attempted} of ${LOOKUPS} run in the 90 s budget): ${ok}/${attempted} complete and correct (${((100 * ok) / attempted).toFixed(1)}%: ${okByKind.country}/${LOOKUPS / 2} country provider lookups found every relay of the country, ${okByKind.descriptor}/${LOOKUPS / 2} descriptor fetches), median ${quantile(durations, 0.5).toFixed(1)} ms, p99 ${quantile(durations, 0.99).toFixed(1)} ms`,
  );

  // Churn: SIGKILL one swarm, 20% of the relays.
  const victims = new Set((swarms[0] as Swarm).relays.map((r) => r.peerId));
  (swarms[0] as Swarm).process.kill('SIGKILL');
  const dropMs = await waitUntil(
    'pool drops killed relays',
    async () => !(await status()).relays.some((r) => victims.has(r.peerId)),
    60_000,
  );
  log(
    `killed ${victims.size} relays (${((100 * victims.size) / relays.length).toFixed(0)}%): the gateway's pool dropped all of them in ${dropMs.toFixed(0)} ms`,
  );

  const joinStarted = performance.now();
  const fresh = await startSwarm({
    dir: join(dir, 'swarm-new'),
    bootstrap: net.bootstrap.multiaddr,
    firstEgress: 2 + SWARMS * PER_SWARM,
    count: PER_SWARM,
    allowTarget,
    countries: COUNTRIES,
  });
  swarms.push(fresh);
  const freshIds = new Set(fresh.relays.map((r) => r.peerId));
  await waitUntil(
    'new relays routable',
    async () => (await status()).relays.filter((r) => r.routable && freshIds.has(r.peerId)).length >= freshIds.size,
    60_000,
  );
  const joinMs = performance.now() - joinStarted;
  log(
    `started ${freshIds.size} new relays: routed to within ${(joinMs / 1000).toFixed(1)} s of starting their process`,
  );
  const byCountry = (await status()).relays
    .filter((r) => r.routable)
    .reduce<Record<string, number>>((acc, r) => {
      acc[r.country ?? '??'] = (acc[r.country ?? '??'] ?? 0) + 1;
      return acc;
    }, {});
  log(`pool by country now: ${JSON.stringify(byCountry)}`);
} finally {
  await Promise.all(swarms.map(stopSwarm));
  await Promise.all(lookupNodes.map((n) => n.stop()));
  await net.stop();
  await rm(dir, { recursive: true, force: true });
}
