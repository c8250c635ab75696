/**
 * @meadow/gateway — the exit proxy crawlers use: SOCKS5 and HTTP (CONNECT and absolute-URI),
 * API-key auth, country and sticky-session routing in the username, relay choice by measured
 * quality with failover, and per-customer metering.
 *
 * @example
 * ```ts
 * import { createGateway } from '@meadow/gateway'
 * const gw = await createGateway({ ...init }, { logger, registry, directory })
 * // curl --socks5-hostname 127.0.0.1:1080 -U 'acme-country-de:KEY' http://example.com/
 * await gw.stop()
 * ```
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { startAdminServer } from './admin-server.ts';
import type { CustomerDirectory } from './customers.ts';
import { Gateway, type GatewayInit, type ListenAddress } from './gateway.ts';
import { createGatewayMetrics } from './metrics.ts';

export interface GatewayComponents {
  logger: Logger;
  registry: Registry;
  directory: CustomerDirectory;
}

export interface GatewayHandle {
  gateway: Gateway;
  peerId: string;
  identityCreated: boolean;
  socks: AddressInfo;
  http: AddressInfo;
  admin: AddressInfo;
  stop(): Promise<void>;
}

export async function createGateway(
  init: GatewayInit & { admin: ListenAddress },
  components: GatewayComponents,
): Promise<GatewayHandle> {
  const gateway = new Gateway(init, {
    logger: components.logger,
    metrics: createGatewayMetrics(components.registry),
    directory: components.directory,
  });
  const { identityCreated } = await gateway.start();
  const admin = await startAdminServer(gateway, components.registry, init.admin).catch(async (err: unknown) => {
    await gateway.stop();
    throw err;
  });
  return {
    gateway,
    peerId: gateway.peerId,
    identityCreated,
    socks: gateway.socksAddress,
    http: gateway.httpAddress,
    admin: admin.address() as AddressInfo,
    stop: async () => {
      admin.closeAllConnections();
      await Promise.all([gateway.stop(), new Promise<void>((resolve) => admin.close(() => resolve()))]);
    },
  };
}

export { type CustomerDirectory, type CustomerRecord, hashApiKey, StaticCustomerDirectory } from './customers.ts';
export type { Gateway, GatewayInit, ListenAddress } from './gateway.ts';
export { parseUsername, type UsernameParams } from './username.ts';
