import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createRelay,
  DEFAULT_EXIT_POLICY,
  ExitPolicy,
  type HouseholdInit,
  isValidTimeZone,
  parsePeriodStart,
  parseTimeOfDay,
  WEEKDAYS,
} from '@meadow/relay';
import { checkBootstrapAddresses } from '../bootstrap-check.ts';
import { invalidConfig, loadConfig, type RelayConfig, relativeTo, relayConfig } from '../config.ts';
import { createLogger } from '../logger.ts';
import { createRegistry } from '../registry.ts';
import { configFileSettings } from '../relay-settings.ts';
import { writeStatusFile } from '../relay-status-file.ts';
import { runUntilSignal } from '../run-service.ts';

export const relayHelp = `meadow relay <start|init|pause|resume|status|earnings|doctor> --config <file>

Runs a household relay. It finds gateways in the Meadow DHT, dials out to them (so it works
behind NAT), and opens TCP connections for their tunnels — never to your home network, the
relay's own addresses or private ranges, whatever the config says.

  meadow relay init --config relay.yaml      create an identity and a commented config
  meadow relay start --config relay.yaml     run the relay
  meadow relay pause --config relay.yaml     stop taking new tunnels (open ones finish)
  meadow relay resume --config relay.yaml    take tunnels again
  meadow relay status --config relay.yaml    print state, usage, caps, gateways, quality and earnings
                                             (--json: the dashboard's /status as JSON)
  meadow relay earnings --config relay.yaml  receipts and rewards per epoch, each inclusion
                                             proof checked here against the gateway's signed root,
                                             and where every byte carried stands (settled,
                                             co-signed but unsettled, or in no receipt yet)
  meadow relay doctor --config relay.yaml    check the setup: config, identity, disk, clock, an egress
                                             self-test, bootstrap, gateways, DHT listing

Every config key is described in docs/relay.md and config/relay.example.yaml.
Dashboard:     http://127.0.0.1:<status.port>/             (loopback only; changes need the
                                                           control token in <dataDir>/control.token)
Local status:  GET http://127.0.0.1:<status.port>/status   (JSON)
Metrics:       GET http://127.0.0.1:<status.port>/metrics  (Prometheus)`;

/** Turns the validated config into the relay's household settings, naming the key of any semantic error. */
export function householdFromConfig(config: RelayConfig, path: string): HouseholdInit {
  const bad = (key: string, message: string): never => {
    throw invalidConfig(path, [{ key, message }]);
  };
  const timeZone = config.schedule.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!isValidTimeZone(timeZone)) bad('schedule.timezone', `"${timeZone}" is not an IANA time zone like Europe/Berlin`);
  let start: ReturnType<typeof parsePeriodStart> | undefined;
  if (config.dataCap.bytes > 0) {
    try {
      start = parsePeriodStart(config.dataCap.period, config.dataCap.start);
    } catch (err) {
      bad('dataCap.start', (err as Error).message);
    }
  }
  return {
    timeZone,
    rate:
      config.rateLimit.toTargetBytesPerSecond > 0 || config.rateLimit.fromTargetBytesPerSecond > 0
        ? {
            toTargetBytesPerSecond: config.rateLimit.toTargetBytesPerSecond,
            fromTargetBytesPerSecond: config.rateLimit.fromTargetBytesPerSecond,
            burstBytes: config.rateLimit.burstBytes,
          }
        : undefined,
    cap:
      start == null
        ? undefined
        : { bytes: config.dataCap.bytes, start, wakeJitterMs: config.dataCap.wakeJitterMinutes * 60_000 },
    schedule: config.schedule.windows.map((w) => ({
      days: w.days.map((d) => WEEKDAYS.indexOf(d)),
      fromMinute: parseTimeOfDay(w.from),
      toMinute: parseTimeOfDay(w.to),
    })),
  };
}

export async function relayCommand(args: { config: string }): Promise<number> {
  const config = await loadConfig(args.config, relayConfig);
  let policy: string[];
  try {
    policy = config.egress.exitPolicy ?? DEFAULT_EXIT_POLICY;
    new ExitPolicy(policy);
  } catch (err) {
    throw invalidConfig(args.config, [{ key: 'egress.exitPolicy', message: (err as Error).message }]);
  }
  const household = householdFromConfig(config, args.config);
  checkBootstrapAddresses(args.config, config.network);
  const log = createLogger('relay', config.log.level, config.log.format);
  if (config.egress.testOnlyAllowExactTargets.length > 0) {
    log.warn(
      { targets: config.egress.testOnlyAllowExactTargets },
      'TEST ONLY: egress allows these exact targets despite the forbidden ranges',
    );
  }
  const registry = createRegistry('relay');
  const handle = await createRelay(
    {
      identityPath: relativeTo(args.config, config.identity),
      dataDir: relativeTo(args.config, config.dataDir),
      household,
      listen: config.network.listen,
      bootstrap: config.network.bootstrap,
      allowPrivateAddresses: config.network.allowPrivateAddresses,
      dhtServer: config.network.dhtServer,
      country: config.country,
      payoutAddress: config.payoutAddress,
      egressAddress: config.egress.address,
      exitPolicy: policy,
      allowExactTargets: config.egress.testOnlyAllowExactTargets,
      refuseDomains: config.egress.refuseDomains,
      connectTimeoutMs: config.limits.connectTimeoutMs,
      idleTimeoutMs: config.limits.idleTimeoutMs,
      maxTunnels: config.limits.maxTunnels,
      capacityBytesPerSecond: config.limits.capacityBytesPerSecond,
      drainTimeoutMs: config.limits.drainTimeoutMs,
      gatewaysToKeep: config.gateways.keep,
      gatewaySiblings: config.gateways.siblings,
      gatewayTrialEveryMs: config.gateways.trialEveryMs,
      linkKeepaliveMs: config.gateways.keepaliveMs,
      linkProbeTimeoutMs: config.gateways.probeTimeoutMs,
      yieldTargetDelayMs: config.rateLimit.yieldAboveDelayMs,
      descriptorTtlMs: config.descriptorTtlMs,
      logTargets: config.egress.logTargets,
      dns: config.dns,
      ledger: {
        network: config.ledger.network,
        toleranceBytes: config.ledger.toleranceBytes,
        toleranceRatio: config.ledger.tolerancePercent / 100,
      },
      status: config.status,
      settings: configFileSettings(args.config),
    },
    { logger: log, registry },
  );
  await writeStatusFile(relativeTo(args.config, config.dataDir), handle.statusUrl);
  const stopped = runUntilSignal(log, () => handle.stop());
  log.info(
    {
      peerId: handle.peerId,
      payoutAddress: config.payoutAddress,
      country: config.country,
      state: handle.relay.controls.state.state,
      egressAddress: config.egress.address ?? null,
      statusUrl: handle.statusUrl,
      identityCreated: handle.identityCreated,
    },
    'ready',
  );
  const tokenPath = join(relativeTo(args.config, config.dataDir), 'control.token');
  // For the person at the terminal, not the log: the token is a secret and stays out of log files.
  process.stderr.write(
    `\nMeadow relay ${handle.peerId.slice(0, 12)}… is running.\n` +
      `  Dashboard:  ${handle.statusUrl}/\n` +
      `  Changes need the control token, kept in ${tokenPath} (mode 0600)` +
      (process.stderr.isTTY ? `:\n  ${readFileSync(tokenPath, 'utf8').trim()}\n\n` : '.\n\n'),
  );
  return stopped;
}
