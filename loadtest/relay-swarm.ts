/**
 * Runs several real relays in one process (each its own libp2p host, DHT node, meter and status
 * API), for the discovery scale test. Usage: node loadtest/relay-swarm.ts '<json>' with
 * { dir, bootstrap, countries, firstEgress, count, allowTarget, trialEveryMs? }. Prints a JSON 'ready' line, then
 * a 'published' line once every relay's descriptor is in the DHT.
 */
import { join } from 'node:path';
import { createRelay, DEFAULT_EXIT_POLICY, type RelayHandle } from '@meadow/relay';
import { pino } from 'pino';
import { Registry } from 'prom-client';

interface SwarmInit {
  dir: string;
  bootstrap: string[];
  countries: string[];
  firstEgress: number;
  count: number;
  allowTarget: string;
  /** `gateways.trialEveryMs` of every relay (default 0: never try another gateway). */
  trialEveryMs?: number;
}

const init = JSON.parse(process.argv[2] ?? '{}') as SwarmInit;
const logger = pino({ level: 'warn' }, pino.destination({ dest: 2, sync: true }));
const relays: RelayHandle[] = [];
for (let i = 0; i < init.count; i++) {
  const egress = `127.0.0.${init.firstEgress + i}`;
  const name = `relay-${init.firstEgress + i}`;
  relays.push(
    await createRelay(
      {
        identityPath: join(init.dir, `${name}.key`),
        dataDir: join(init.dir, `${name}-data`),
        household: { timeZone: 'UTC', schedule: [] },
        listen: [`/ip4/${egress}/tcp/0`],
        bootstrap: init.bootstrap,
        allowPrivateAddresses: true,
        country: init.countries[i % init.countries.length] as string,
        payoutAddress: `payout-${name}`,
        egressAddress: egress,
        exitPolicy: DEFAULT_EXIT_POLICY,
        allowExactTargets: [init.allowTarget],
        connectTimeoutMs: 10_000,
        idleTimeoutMs: 60_000,
        maxTunnels: 256,
        capacityBytesPerSecond: 12_500_000,
        gatewaysToKeep: 1,
        gatewayTrialEveryMs: init.trialEveryMs ?? 0,
        descriptorTtlMs: 120_000,
        drainTimeoutMs: 500,
        logTargets: false,
        ledger: { network: 'meadow', toleranceBytes: 4_194_304, toleranceRatio: 0.01 },
        status: { host: '127.0.0.1', port: 0 },
      },
      { logger: logger.child({ relay: name }), registry: new Registry() },
    ),
  );
}
process.stdout.write(
  `${JSON.stringify({ msg: 'ready', relays: relays.map((r) => ({ peerId: r.peerId, country: r.relay.init.country })) })}\n`,
);
// Routable (the gateway has the descriptor straight from the relay) comes before the DHT has it:
// say when every relay's descriptor is published in the DHT too, so lookups measure lookups.
while (relays.some((r) => r.relay.publishedDescriptor == null)) await new Promise((r) => setTimeout(r, 100));
process.stdout.write(`${JSON.stringify({ msg: 'published' })}\n`);
const stop = async (): Promise<void> => {
  await Promise.all(relays.map((r) => r.stop()));
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
