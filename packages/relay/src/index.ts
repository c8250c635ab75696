/**
 * @meadow/relay — the household node: dials out to gateways found in the DHT, opens TCP
 * connections for their tunnels after checking every resolved address, and meters each byte.
 *
 * @example
 * ```ts
 * import { createRelay } from '@meadow/relay'
 * const relay = await createRelay({ ...init }, { logger, registry })
 * console.log(relay.peerId, relay.statusUrl)
 * await relay.stop()
 * ```
 */
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { SettingsStore } from './dashboard/settings-form.ts';
import { createRelayMetrics } from './metrics.ts';
import { Relay, type RelayInit } from './relay.ts';
import { serverUrl, startStatusServer } from './status-server.ts';

export interface RelayComponents {
  logger: Logger;
  registry: Registry;
}

export interface RelayHandle {
  relay: Relay;
  peerId: string;
  identityCreated: boolean;
  statusUrl: string;
  stop(): Promise<void>;
}

export async function createRelay(
  init: RelayInit & {
    /** The local dashboard and API (loopback only). */
    status: { host: string; port: number };
    /** Lets the dashboard change caps, rate limits and schedule; read-only without it. */
    settings?: SettingsStore;
  },
  components: RelayComponents,
): Promise<RelayHandle> {
  const relay = new Relay(init, {
    logger: components.logger,
    metrics: createRelayMetrics(components.registry),
    registry: components.registry,
  });
  const { identityCreated } = await relay.start().catch(async (err: unknown) => {
    await relay.stop().catch(() => {});
    throw err;
  });
  let server: Server;
  try {
    server = await startStatusServer(relay, components.registry, {
      listen: init.status,
      dataDir: init.dataDir,
      settings: init.settings,
    });
  } catch (err) {
    await relay.stop();
    throw err;
  }
  return {
    relay,
    peerId: relay.peerId,
    identityCreated,
    statusUrl: serverUrl(server),
    stop: async () => {
      await relay.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export { embeddedIpv4, forbiddenReason } from './address-ranges.ts';
export type { StatusBody } from './dashboard/model.ts';
export {
  type HouseholdSettings,
  type SaveResult,
  SETTINGS_FIELDS,
  type SettingsStore,
} from './dashboard/settings-form.ts';
export { EgressGuard, type EgressGuardInit } from './egress.ts';
export { egressSelfTest, PUBLIC_ADDRESS_PROBE, type SelfTestProbe } from './egress-self-test.ts';
export { DEFAULT_EXIT_POLICY, ExitPolicy, ExitPolicyError, parseExitRule } from './exit-policy.ts';
export type { HouseholdInit, StateInfo } from './household/controls.ts';
export {
  isValidTimeZone,
  type PeriodKind,
  parsePeriodStart,
  parseTimeOfDay,
  type ScheduleWindow,
  WEEKDAYS,
} from './household/periods.ts';
export type { QualityPart, QualityReport } from './household/quality.ts';
export { HouseholdNetworks, MAX_OBSERVED_ADDRESSES } from './household-networks.ts';
export {
  type BytesOnTheirWay,
  type CheckedEarning,
  checkedEarnings,
  earningShare,
  whereBytesAre,
} from './receipts/earnings.ts';
export { type EarningsRow, ReceiptBook } from './receipts/receipt-book.ts';
export type { ReceiptDeskInit } from './receipts/receipt-desk.ts';
export type { Relay, RelayInit } from './relay.ts';
export { loadOrCreateControlToken } from './status-server.ts';
export { DNS_QUERY_BUDGET } from './target-resolver.ts';
