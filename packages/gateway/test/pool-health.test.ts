import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CountryChecker, createDiscovery, type Discovery, type DiscoveryHandle } from '@meadow/discovery';
import type { TunnelMux } from '@meadow/protocol';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatewayMetrics } from '../src/metrics.ts';
import { PoolKeeper } from '../src/pool-keeper.ts';
import { RelayPool } from '../src/relay-pool.ts';

// A relay on a slow upload full of tunnels answers pings late, seconds behind the bytes it sends.
// Here no ping is answered at all (the gateway has no connection to either relay): what tells a
// busy relay from a dead one is whether bytes keep arriving on its link.

let handle: DiscoveryHandle;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-pool-health-'));
  handle = await createDiscovery({
    identityPath: join(dir, 'gateway.key'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: [],
    dhtMode: 'server',
    allowPrivateAddresses: true,
    agentVersion: 'test/pool-health',
  });
});

afterAll(async () => {
  await handle?.stop();
  if (dir != null) await rm(dir, { recursive: true, force: true });
});

/** A link as the pool sees it: when bytes last arrived (ms), and what aborted it. */
function link(lastReceivedAt: () => number) {
  const aborted: string[] = [];
  const mux = {
    isClosed: false,
    activeTunnels: 3,
    get lastReceivedAt() {
      return lastReceivedAt();
    },
    abort(err: Error) {
      aborted.push(err.message);
      mux.isClosed = true;
    },
  };
  return { mux: mux as unknown as TunnelMux, aborted };
}

describe('the pool health check', () => {
  it('evicts a relay that misses its pings and sends nothing, never one whose link keeps delivering bytes', async () => {
    const registry = new Registry();
    const pool = new RelayPool();
    const keeper = new PoolKeeper(
      {
        maxRelaysPerIp: 2,
        maxRelaysPerNetwork: 8,
        healthCheckIntervalMs: 500,
        maxPingFailures: 3,
        describeDeadlineMs: 60_000,
        stallAfterMs: 3_000,
        stallProbeTimeoutMs: 3_000,
      },
      {
        pool,
        node: handle.node,
        discovery: handle.discovery satisfies Discovery,
        countries: {} as CountryChecker,
        metrics: createGatewayMetrics(registry),
        logger: pino({ level: 'silent' }),
      },
    );
    const busy = link(() => Date.now()); // bytes arrive all the time
    const silent = link(() => Date.now() - 60_000);
    pool.addLink('busy-relay', busy.mux);
    pool.addLink('silent-relay', silent.mux);

    for (let round = 1; round <= 3; round++) await keeper.checkHealth();

    expect(silent.aborted).toEqual(['relay evicted: missed 3 pings']);
    expect(busy.aborted).toEqual([]);
    expect(pool.all().map((r) => r.peerId)).toEqual(['busy-relay']);
    expect(pool.all()[0]?.pingFailures).toBe(0);
    expect(await registry.getSingleMetricAsString('meadow_gateway_relay_evictions_total')).toMatch(
      /meadow_gateway_relay_evictions_total\{reason="ping"\} 1/,
    );
  });
});
