import { createRelay, DEFAULT_EXIT_POLICY, ExitPolicy } from '@meadow/relay';
import { ConfigError, loadConfig, relayConfig } from '../config.ts';
import { createLogger } from '../logger.ts';
import { createRegistry } from '../registry.ts';
import { runUntilSignal } from '../run-service.ts';

export const relayHelp = `meadow relay start --config <file>

Runs a household relay. It finds gateways in the Meadow DHT, dials out to them (so it works
behind NAT), and opens TCP connections for their tunnels — never to your home network, the
relay's own addresses or private ranges, whatever the config says.

  --config <file>   relay config (YAML); every key is described in docs/relay.md
                    and config/relay.example.yaml

Local status:  GET http://127.0.0.1:<status.port>/status   (JSON)
Metrics:       GET http://127.0.0.1:<status.port>/metrics  (Prometheus)`;

export async function relayCommand(args: { config: string }): Promise<number> {
  const config = await loadConfig(args.config, relayConfig);
  let policy: string[];
  try {
    policy = config.egress.exitPolicy ?? DEFAULT_EXIT_POLICY;
    new ExitPolicy(policy);
  } catch (err) {
    throw new ConfigError(`${args.config}: invalid configuration\n  egress.exitPolicy: ${(err as Error).message}`);
  }
  const log = createLogger('relay', config.log.level);
  if (config.egress.testOnlyAllowExactTargets.length > 0) {
    log.warn(
      { targets: config.egress.testOnlyAllowExactTargets },
      'TEST ONLY: egress allows these exact targets despite the forbidden ranges',
    );
  }
  const registry = createRegistry('relay');
  const handle = await createRelay(
    {
      identityPath: config.identity,
      listen: config.network.listen,
      bootstrap: config.network.bootstrap,
      allowPrivateAddresses: config.network.allowPrivateAddresses,
      country: config.country,
      payoutAddress: config.payoutAddress,
      egressAddress: config.egress.address,
      exitPolicy: policy,
      allowExactTargets: config.egress.testOnlyAllowExactTargets,
      connectTimeoutMs: config.limits.connectTimeoutMs,
      idleTimeoutMs: config.limits.idleTimeoutMs,
      maxTunnels: config.limits.maxTunnels,
      capacityBytesPerSecond: config.limits.capacityBytesPerSecond,
      drainTimeoutMs: config.limits.drainTimeoutMs,
      gatewaysToKeep: config.gateways.keep,
      descriptorTtlMs: config.descriptorTtlMs,
      logTargets: config.egress.logTargets,
      status: config.status,
    },
    { logger: log, registry },
  );
  log.info(
    {
      peerId: handle.peerId,
      payoutAddress: config.payoutAddress,
      country: config.country,
      egressAddress: config.egress.address ?? null,
      statusUrl: handle.statusUrl,
      identityCreated: handle.identityCreated,
    },
    'ready',
  );
  return runUntilSignal(log, () => handle.stop());
}
