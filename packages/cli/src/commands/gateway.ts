import { join } from 'node:path';
import { createGateway } from '@meadow/gateway';
import { checkBootstrapAddresses, warnWithoutPublicAddress } from '../bootstrap-check.ts';
import {
  customerStoreLocation,
  gatewayConfig,
  ledgerStoreLocation,
  loadConfig,
  relativeTo,
  sessionStoreLocation,
} from '../config.ts';
import { httpUrl, removeGatewayRunFile, writeGatewayRunFile } from '../gateway-run-file.ts';
import { createLogger } from '../logger.ts';
import { createRegistry } from '../registry.ts';
import { runUntilSignal } from '../run-service.ts';
import { readTokenFile } from '../token-file.ts';

export const gatewayHelp = `meadow gateway start --config <file>
meadow gateway doctor --config <file>   (checks the setup: meadow gateway doctor --help)

Runs the exit proxy crawlers connect to: SOCKS5 (socks.port) and HTTP proxy (http.port,
CONNECT and absolute-URI). Credentials: username <customer>[-country-<cc>][-session-<id>]
[-sesstime-<minutes>][-strict], password = the customer's API key (docs/username.md).

  curl --socks5-hostname 127.0.0.1:1080 -U 'acme-country-de:KEY' http://example.com/
  curl -x http://acme:KEY@127.0.0.1:8080 http://example.com/
  curl -x https://acme:KEY@gw.example:8443 https://example.com/   (https: the key encrypted on the wire)

Every HTTP response names its exit (X-Meadow-Relay, X-Meadow-Country, X-Meadow-Session). A
customer reads its plan, usage and why its tunnels failed (SOCKS5 replies cannot say) with
  curl -u 'acme:KEY' http://127.0.0.1:8080/account

Admin (admin.port, loopback by default; elsewhere only with admin.tokenFile): / is the network
health page; /network, /status, /usage and /metrics give the same as JSON and Prometheus text;
/customers/<name> shows a customer's account as the customer sees it at /account; /ready
(no token needed) answers 200, or 503 and why, for a load balancer's health check.

SIGTERM (systemctl stop) drains first: /ready says 503, the proxy ports stop accepting (after
timeouts.stopNoticeMs, for load balancers to notice), and open tunnels get timeouts.drainMs (10 s)
to finish. A second signal stops at once.

The https port's certificate (https.certFile, https.keyFile) is loaded again on SIGHUP
(systemctl reload) and within a minute after the files change (a Let's Encrypt renewal).

Every byte relays carry is co-signed into the ledger (ledger.store); epochs close every
ledger.epochSeconds. Check it with: meadow ledger export --config <file> > l.jsonl && meadow ledger verify l.jsonl`;

export async function gatewayCommand(args: { config: string }): Promise<number> {
  const config = await loadConfig(args.config, gatewayConfig);
  checkBootstrapAddresses(args.config, config.network);
  const log = createLogger('gateway', config.log.level, config.log.format);
  const registry = createRegistry('gateway');
  const handle = await createGateway(
    {
      identityPath: relativeTo(args.config, config.identity),
      listen: config.network.listen,
      announce: config.network.announce,
      bootstrap: config.network.bootstrap,
      allowPrivateAddresses: config.network.allowPrivateAddresses,
      socks: config.socks,
      http: config.http,
      https:
        config.https == null
          ? undefined
          : {
              ...config.https,
              certFile: relativeTo(args.config, config.https.certFile),
              keyFile: relativeTo(args.config, config.https.keyFile),
            },
      admin: {
        host: config.admin.host,
        port: config.admin.port,
        token:
          config.admin.tokenFile == null
            ? undefined
            : await readTokenFile('admin.tokenFile', relativeTo(args.config, config.admin.tokenFile)),
      },
      connectTimeoutMs: config.timeouts.connectMs,
      handshakeTimeoutMs: config.timeouts.handshakeMs,
      idleTimeoutMs: config.timeouts.idleMs,
      drainTimeoutMs: config.timeouts.drainMs,
      stopNoticeMs: config.timeouts.stopNoticeMs,
      maxAttempts: config.maxAttempts,
      descriptorRefreshMs: config.descriptorRefreshMs,
      customerDatabase: customerStoreLocation(args.config, config),
      sessionStore: sessionStoreLocation(args.config, config),
      meterDatabase: join(relativeTo(args.config, config.dataDir), 'meters.db'),
      customers: config.customers,
      pool: config.pool,
      geoipDatabase: config.geoipDatabase == null ? undefined : relativeTo(args.config, config.geoipDatabase),
      ledger: {
        network: config.ledger.network,
        store: ledgerStoreLocation(args.config, config),
        feePpm: Math.round(config.ledger.protocolFeePercent * 10_000),
        epochMs: Math.round(config.ledger.epochSeconds * 1_000),
        receiptIntervalMs: Math.round(config.ledger.receiptIntervalSeconds * 1_000),
        receiptEveryBytes: config.ledger.receiptEveryBytes,
        writeOffAfterMs: Math.round(config.ledger.writeOffUnsignedAfterSeconds * 1_000),
      },
    },
    { logger: log, registry },
  );
  const dataDir = relativeTo(args.config, config.dataDir);
  const at = (a: { address: string; port: number }) => ({ host: a.address, port: a.port });
  const https = handle.gateway.httpsAddress;
  await writeGatewayRunFile(dataDir, {
    pid: process.pid,
    peerId: handle.peerId,
    startedAt: new Date().toISOString(),
    adminUrl: httpUrl(handle.admin.address, handle.admin.port),
    listening: {
      socks: at(handle.socks),
      http: at(handle.http),
      ...(https == null ? {} : { https: at(https) }),
      admin: at(handle.admin),
      p2p: handle.gateway.multiaddrs,
    },
  }).catch((err: Error) =>
    // Only `meadow gateway doctor` reads it: a gateway that cannot write it still serves.
    log.warn({ dataDir, err: err.message }, 'could not write gateway.json; the doctor will not find this gateway'),
  );
  const customers = handle.gateway.service.store.list().filter((c) => !c.disabled);
  const stopped = runUntilSignal(log, async () => {
    await handle.stop();
    await removeGatewayRunFile(dataDir);
  });
  log.info(
    {
      peerId: handle.peerId,
      multiaddrs: handle.gateway.multiaddrs,
      socks: `${handle.socks.address}:${handle.socks.port}`,
      http: `${handle.http.address}:${handle.http.port}`,
      ...(handle.gateway.httpsAddress == null
        ? {}
        : { https: `${handle.gateway.httpsAddress.address}:${handle.gateway.httpsAddress.port}` }),
      admin: `http://${handle.admin.address}:${handle.admin.port}`,
      customers: customers.length,
    },
    'ready',
  );
  warnWithoutPublicAddress(log, handle.gateway.multiaddrs, config.network, 'this gateway');
  if (customers.length === 0)
    log.warn(
      { fix: `meadow customer add --config ${args.config} --name <name>` },
      'no active customer yet: every crawler gets 407 until one is added (a running gateway sees it within two seconds)',
    );
  process.on('SIGHUP', () => {
    if (handle.gateway.httpsAddress == null) log.info('SIGHUP: no https port, nothing to reload');
    else void handle.gateway.reloadCertificate();
  });
  return stopped;
}
