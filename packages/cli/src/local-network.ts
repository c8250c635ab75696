import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashApiKey } from '@meadow/gateway';
import { fetch } from 'undici';
import { parse, stringify } from 'yaml';
import { ChildService } from './child-service.ts';

export interface LocalNetworkInit {
  /** Folder for identities and generated configs. */
  dir: string;
  relays: number;
  /** Country of relay i is countries[i % countries.length]. */
  countries?: string[];
  /** Child log level: 'info' or more verbose, since the launcher waits for each child's 'ready' line. */
  logLevel?: 'info' | 'debug' | 'trace';
  onProgress?: (step: string, detail?: string) => void;
  /** More customers, each with its own API key (see LocalNetwork.customers). */
  customers?: Array<{ name: string; quotaBytes?: number; maxTunnels?: number }>;
  /** More exact IP:port targets the relays may reach despite the forbidden ranges (tests only). */
  extraAllowedTargets?: string[];
  /** Extra relay config keys for every relay (e.g. rateLimit, dataCap), merged over the defaults (`egress` key by key). */
  relayConfig?: Record<string, unknown>;
  /** Extra gateway config keys (e.g. ledger timings), merged over the defaults. */
  gatewayConfig?: Record<string, unknown>;
  /** The bootstrap node's listen addresses (default loopback), e.g. for relays in another network namespace. */
  bootstrapListen?: string[];
  /** The gateway's libp2p listen and announce addresses (e.g. to put a fault proxy in front of it). */
  gatewayNetwork?: { listen?: string[]; announce?: string[] };
  /** Extra Node flags for the gateway and the relays, e.g. `--inspect=127.0.0.1:0` to profile them. */
  nodeFlags?: string[];
  /** A token the gateway's admin API requires (written to a file for `admin.tokenFile`). */
  adminToken?: string;
}

export interface LocalRelay {
  service: ChildService;
  peerId: string;
  egressAddress: string;
  country: string;
  statusUrl: string;
  configPath: string;
  /** The command that runs its `meadow`, when not this checkout's (a release archive's `bin/meadow`). */
  meadow?: readonly string[];
}

export interface AddRelayOptions {
  country?: string;
  config?: Record<string, unknown>;
  meadow?: readonly string[];
  readyTimeoutMs?: number;
}

export interface LocalNetwork {
  origin: { service: ChildService; host: string; port: number; url: string };
  bootstrap: { service: ChildService; peerId: string; multiaddr: string; metricsUrl: string };
  gateway: {
    service: ChildService;
    peerId: string;
    socks: { host: string; port: number };
    http: { host: string; port: number };
    adminUrl: string;
    /** What a request to the admin API must carry: the bearer token, when the network has one. */
    adminHeaders: Record<string, string>;
    configPath: string;
  };
  relays: LocalRelay[];
  customer: { name: string; apiKey: string };
  /** Every customer by name, the default 'demo' one included. */
  customers: Record<string, { name: string; apiKey: string }>;
  /**
   * Starts one more relay (the next egress address), e.g. to replace one that was killed; `meadow`
   * is the command that runs it instead of this checkout's, such as `[<release archive>/bin/meadow]`;
   * `readyTimeoutMs` (default 30 s) is for one that starts slowly, such as under an emulator.
   */
  addRelay(options?: AddRelayOptions): Promise<LocalRelay>;
  /** Stops a relay gracefully (SIGTERM) and forgets it. */
  stopRelay(relay: LocalRelay): Promise<void>;
  /** Stops a relay gracefully (SIGTERM) and starts it again with the same identity, config and data. */
  restartRelay(relay: LocalRelay): Promise<LocalRelay>;
  /** Starts a relay that stopped (`stopRelay`, or a kill) again, with the same identity, config and data. */
  startRelayAgain(relay: LocalRelay): Promise<LocalRelay>;
  /**
   * Stops the gateway (SIGTERM, or SIGKILL for a crash) and starts it again with the same identity,
   * data and addresses (the ports it had are written into its config), so clients and relays
   * find it where it was.
   */
  restartGateway(options?: { signal?: 'SIGTERM' | 'SIGKILL' }): Promise<void>;
  /** Resolves when the gateway can route through `count` relays. */
  waitForRoutableRelays(count: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

function forget<T>(list: T[], item: T): void {
  const at = list.indexOf(item);
  if (at >= 0) list.splice(at, 1);
}

function hostPort(value: unknown): { host: string; port: number } {
  const text = String(value);
  const i = text.lastIndexOf(':');
  return { host: text.slice(0, i), port: Number(text.slice(i + 1)) };
}

/**
 * Starts a whole Meadow network on this machine, as separate real processes: an origin web
 * site, a bootstrap node, a gateway and `relays` relays, each relay with its own egress address
 * (127.0.0.2, 127.0.0.3, …). Used by `meadow demo` and the end-to-end tests.
 */
export async function startLocalNetwork(init: LocalNetworkInit): Promise<LocalNetwork> {
  const services: ChildService[] = [];
  try {
    return await launch(init, services);
  } catch (err) {
    // Whatever failed, leave no process behind.
    await Promise.all(services.map((s) => s.stop(2_000)));
    throw err;
  }
}

async function launch(init: LocalNetworkInit, services: ChildService[]): Promise<LocalNetwork> {
  const progress = init.onProgress ?? (() => {});
  const logLevel = init.logLevel ?? 'info';
  const countries = init.countries ?? ['DE'];
  const started = async <T>(service: ChildService, what: string): Promise<T> => {
    services.push(service);
    try {
      return (await service.ready) as T;
    } catch (err) {
      throw new Error(`could not start ${what}: ${(err as Error).message}`);
    }
  };
  await mkdir(init.dir, { recursive: true });

  progress('origin', 'starting the demo web site');
  const originService = new ChildService('origin', ['origin', '--host', '127.0.0.1', '--port', '0']);
  const originReady = await started<{ host: string; port: number; url: string }>(originService, 'the origin');

  progress('bootstrap', 'starting the DHT bootstrap node');
  const bootstrapConfigPath = join(init.dir, 'bootstrap.yaml');
  await writeFile(
    bootstrapConfigPath,
    stringify({
      identity: join(init.dir, 'bootstrap.key'),
      network: { listen: init.bootstrapListen ?? ['/ip4/127.0.0.1/tcp/0'], allowPrivateAddresses: true },
      metrics: { host: '127.0.0.1', port: 0 },
      log: { level: logLevel },
    }),
  );
  const bootstrapService = new ChildService('bootstrap', ['bootstrap', '--config', bootstrapConfigPath]);
  const bootstrapReady = await started<{ peerId: string; multiaddrs: string[]; metricsUrl: string }>(
    bootstrapService,
    'the bootstrap node',
  );
  const bootstrapAddr =
    bootstrapReady.multiaddrs.find((a) => a.includes('/p2p/')) ??
    `${bootstrapReady.multiaddrs[0]}/p2p/${bootstrapReady.peerId}`;

  progress('gateway', 'starting the gateway');
  const customer: { name: string; apiKey: string; quotaBytes?: number; maxTunnels?: number } = {
    name: 'demo',
    apiKey: randomBytes(18).toString('base64url'),
  };
  const extraCustomers = (init.customers ?? []).map((c) => ({ ...c, apiKey: randomBytes(18).toString('base64url') }));
  const gatewayConfigPath = join(init.dir, 'gateway.yaml');
  const adminTokenFile = init.adminToken == null ? undefined : join(init.dir, 'admin.token');
  if (adminTokenFile != null) await writeFile(adminTokenFile, `${init.adminToken}\n`, { mode: 0o600 });
  const adminHeaders: Record<string, string> =
    init.adminToken == null ? {} : { authorization: `Bearer ${init.adminToken}` };
  await writeFile(
    gatewayConfigPath,
    stringify({
      identity: join(init.dir, 'gateway.key'),
      dataDir: join(init.dir, 'gateway-data'),
      network: {
        listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap: [bootstrapAddr],
        allowPrivateAddresses: true,
        ...init.gatewayNetwork,
      },
      socks: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0, ...(adminTokenFile == null ? {} : { tokenFile: adminTokenFile }) },
      customers: [customer, ...extraCustomers].map((c) => ({
        name: c.name,
        apiKeySha256: hashApiKey(c.apiKey),
        ...(c.quotaBytes == null ? {} : { quotaBytes: c.quotaBytes }),
        ...(c.maxTunnels == null ? {} : { maxTunnels: c.maxTunnels }),
      })),
      descriptorRefreshMs: 5_000,
      pool: { healthCheckIntervalMs: 2_000 },
      timeouts: { drainMs: 2_000 },
      log: { level: logLevel },
      ...init.gatewayConfig,
    }),
  );
  const gatewayService = new ChildService('gateway', ['gateway', 'start', '--config', gatewayConfigPath], {
    nodeFlags: init.nodeFlags,
  });
  const gatewayReady = await started<{
    peerId: string;
    socks: string;
    http: string;
    admin: string;
    multiaddrs: string[];
  }>(gatewayService, 'the gateway');

  const relays: LocalRelay[] = [];
  let nextRelay = 0;
  const addRelay = async (options: AddRelayOptions = {}): Promise<LocalRelay> => {
    const index = nextRelay++;
    const egressAddress = `127.0.0.${index + 2}`;
    const relayCountry = options.country ?? (countries[index % countries.length] as string);
    const configPath = join(init.dir, `relay-${index + 1}.yaml`);
    await writeFile(
      configPath,
      stringify({
        identity: join(init.dir, `relay-${index + 1}.key`),
        dataDir: join(init.dir, `relay-${index + 1}-data`),
        country: relayCountry,
        payoutAddress: `demo-payout-${index + 1}`,
        network: { listen: [`/ip4/${egressAddress}/tcp/0`], bootstrap: [bootstrapAddr], allowPrivateAddresses: true },
        limits: { drainTimeoutMs: 2_000 },
        gateways: { keep: 1 },
        descriptorTtlMs: 60_000,
        status: { host: '127.0.0.1', port: 0 },
        log: { level: logLevel },
        ...init.relayConfig,
        ...options.config,
        // Loopback is no household's line: pings there time busy event loops, not a modem's queue.
        rateLimit: {
          yieldAboveDelayMs: 0,
          ...(init.relayConfig?.rateLimit as object | undefined),
          ...(options.config?.rateLimit as object | undefined),
        },
        // Egress keys are added to the relay's own address and the allowed test targets.
        egress: {
          address: egressAddress,
          testOnlyAllowExactTargets: [`127.0.0.1:${originReady.port}`, ...(init.extraAllowedTargets ?? [])],
          ...(init.relayConfig?.egress as object | undefined),
          ...(options.config?.egress as object | undefined),
        },
      }),
    );
    const relay = await launchRelay(`relay-${index + 1}`, configPath, egressAddress, relayCountry, options);
    relays.push(relay);
    return relay;
  };
  const launchRelay = async (
    name: string,
    configPath: string,
    egressAddress: string,
    country: string,
    { meadow, readyTimeoutMs }: Pick<AddRelayOptions, 'meadow' | 'readyTimeoutMs'>,
  ): Promise<LocalRelay> => {
    const service = new ChildService(name, ['relay', 'start', '--config', configPath], {
      nodeFlags: init.nodeFlags,
      program: meadow,
      readyTimeoutMs,
    });
    const ready = await started<{ peerId: string; statusUrl: string }>(service, name);
    return { service, peerId: ready.peerId, egressAddress, country, statusUrl: ready.statusUrl, configPath, meadow };
  };
  const stopRelay = async (relay: LocalRelay): Promise<void> => {
    const code = await relay.service.stop();
    if (code !== 0) throw new Error(`${relay.service.name} exited with ${code} on SIGTERM\n${relay.service.tail()}`);
    forget(services, relay.service);
    forget(relays, relay);
  };
  const launchAgain = (relay: LocalRelay): Promise<LocalRelay> =>
    launchRelay(relay.service.name, relay.configPath, relay.egressAddress, relay.country, { meadow: relay.meadow });
  const restartRelay = async (relay: LocalRelay): Promise<LocalRelay> => {
    const at = relays.indexOf(relay);
    await stopRelay(relay);
    const again = await launchAgain(relay);
    relays.splice(at < 0 ? relays.length : at, 0, again); // in its old place: callers index net.relays
    return again;
  };
  const startRelayAgain = async (relay: LocalRelay): Promise<LocalRelay> => {
    if (relay.service.running) throw new Error(`${relay.service.name} is still running`);
    // A killed relay is still listed: its successor takes its place.
    const at = relays.indexOf(relay);
    forget(services, relay.service);
    forget(relays, relay);
    const again = await launchAgain(relay);
    relays.splice(at < 0 ? relays.length : at, 0, again);
    return again;
  };
  for (let i = 0; i < init.relays; i++) {
    progress('relay', `starting relay ${i + 1} of ${init.relays} (egress 127.0.0.${i + 2})`);
    await addRelay();
  }

  const adminUrl = `${String(gatewayReady.admin)}`;
  const network: LocalNetwork = {
    origin: { service: originService, host: originReady.host, port: originReady.port, url: originReady.url },
    bootstrap: {
      service: bootstrapService,
      peerId: bootstrapReady.peerId,
      multiaddr: bootstrapAddr,
      metricsUrl: bootstrapReady.metricsUrl,
    },
    gateway: {
      service: gatewayService,
      peerId: gatewayReady.peerId,
      socks: hostPort(gatewayReady.socks),
      http: hostPort(gatewayReady.http),
      adminUrl,
      adminHeaders,
      configPath: gatewayConfigPath,
    },
    relays,
    customer: { name: customer.name, apiKey: customer.apiKey },
    customers: Object.fromEntries(
      [customer, ...extraCustomers].map((c) => [c.name, { name: c.name, apiKey: c.apiKey }]),
    ),
    addRelay,
    stopRelay,
    restartRelay,
    startRelayAgain,
    async restartGateway(options = {}) {
      const current = network.gateway.service;
      const config = parse(await readFile(gatewayConfigPath, 'utf8')) as Record<string, unknown>;
      const port = (hostAndPort: string): number => Number(hostAndPort.slice(hostAndPort.lastIndexOf(':') + 1));
      config.socks = { host: '127.0.0.1', port: network.gateway.socks.port };
      config.http = { host: '127.0.0.1', port: network.gateway.http.port };
      config.admin = { ...(config.admin as Record<string, unknown>), host: '127.0.0.1', port: port(adminUrl) };
      config.network = {
        ...(config.network as Record<string, unknown>),
        listen: init.gatewayNetwork?.listen ?? gatewayReady.multiaddrs.map((a) => a.replace(/\/p2p\/.*$/, '')),
      };
      await writeFile(gatewayConfigPath, stringify(config));
      if (options.signal === 'SIGKILL') {
        const exited = once(current.process, 'exit');
        current.kill('SIGKILL');
        await exited;
      } else {
        const code = await current.stop();
        if (code !== 0) throw new Error(`the gateway exited with ${code} on SIGTERM\n${current.tail()}`);
      }
      forget(services, current);
      const again = new ChildService('gateway', ['gateway', 'start', '--config', gatewayConfigPath], {
        nodeFlags: init.nodeFlags,
      });
      await started(again, 'the gateway');
      network.gateway.service = again;
    },
    async waitForRoutableRelays(count, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      let seen = 0;
      while (Date.now() < deadline) {
        try {
          const response = await fetch(`${adminUrl}/status`, { headers: adminHeaders });
          const status = (await response.json()) as { relays: Array<{ routable: boolean }> };
          seen = status.relays.filter((r) => r.routable).length;
          if (seen >= count) return;
        } catch {
          // the admin API may not answer yet
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(
        `only ${seen} of ${count} relays became routable within ${timeoutMs} ms\n${gatewayService.tail()}`,
      );
    },
    async stop() {
      await Promise.all([...services].reverse().map((s) => s.stop()));
    },
  };
  return network;
}
