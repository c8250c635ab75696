import { once } from 'node:events';
import type { AddressInfo, Server } from 'node:net';
import { answerSiblings, type CountryChecker, createDiscovery, type DiscoveryHandle } from '@meadow/discovery';
import { createLedger, createSigner, type Ledger, type LedgerStore, openLedgerStore } from '@meadow/ledger';
import {
  GATEWAY_SIBLINGS_PROTOCOL,
  MEADOW_VERSION,
  redactUrl,
  repeatTask,
  SetupError,
  type TaskContext,
  TimerSet,
  TUNNEL_PROTOCOL,
} from '@meadow/protocol';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Connector } from './connector.ts';
import type { CustomerBook } from './customer-book.ts';
import { DEFAULT_PLAN } from './customer-store.ts';
import { createHttpProxy, type HttpProxyServer } from './http-proxy.ts';
import { MeterSnapshots } from './meter-snapshots.ts';
import { guardedLedgerStore, MeteringGuard } from './metering-guard.ts';
import type { GATEWAY_TASKS, GatewayMetrics } from './metrics.ts';
import { PoolKeeper, type PoolKeeperInit } from './pool-keeper.ts';
import { ReceiptClerk, type ReceiptClerkInit } from './receipt-clerk.ts';
import { RelayPool } from './relay-pool.ts';
import type { SessionBook } from './sessions.ts';
import { createSocksServer } from './socks-server.ts';
import { type LoadedCertificate, loadCertificate, type TlsListenAddress, TlsListener } from './tls-listener.ts';
import { TunnelService } from './tunnel-service.ts';

/** How often a gateway with a shared session store tells it that it is alive (siblings time out after 30 s). */
const SIBLING_ANNOUNCE_MS = 10_000;

export interface ListenAddress {
  host: string;
  port: number;
}

export interface GatewayInit {
  identityPath: string;
  /** libp2p listen multiaddrs: relays dial these. */
  listen: string[];
  announce?: string[];
  bootstrap: string[];
  allowPrivateAddresses: boolean;
  socks: ListenAddress;
  http: ListenAddress;
  /** The HTTP proxy over TLS as well, with a certificate the gateway reloads when it is renewed. */
  https?: TlsListenAddress;
  connectTimeoutMs: number;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  /** On stop, how long open tunnels may finish after the proxy ports stop accepting (default 10 s). */
  drainTimeoutMs?: number;
  /**
   * On stop, how long the proxy ports go on accepting while `/ready` already answers 503, so that
   * load balancers take the gateway out before its ports refuse anyone (default 0: close at once).
   */
  stopNoticeMs?: number;
  maxAttempts: number;
  /** How often linked relays' descriptors are fetched again from the DHT. */
  descriptorRefreshMs: number;
  pool: PoolKeeperInit;
  ledger: LedgerConfig;
  /**
   * Where sticky sessions are kept: a SQLite file (they survive a restart), a postgres:// URL
   * (shared by gateways, so a session sticks whichever gateway its requests reach), or, without
   * it, memory only.
   */
  sessionStore?: string;
  /** Where the open epoch's counters are saved every second (SQLite), so a crash loses none. */
  meterDatabase?: string;
  /** After a start, how long requests wait for their sticky session's relay to link again. */
  sessionGraceMs?: number;
}

export interface LedgerConfig extends Omit<ReceiptClerkInit, 'requestTimeoutMs'> {
  network: string;
  /** A SQLite file path or a postgres:// URL. */
  store: string;
  feePpm: number;
}

export class Gateway {
  readonly init: GatewayInit;
  readonly pool = new RelayPool();
  readonly sessions: SessionBook;
  private readonly snapshots: MeterSnapshots | undefined;
  /** Refuses traffic while usage or the ledger cannot be written. */
  readonly guard: MeteringGuard;
  readonly service: TunnelService;
  private readonly log: Logger;
  private readonly metrics: GatewayMetrics;
  private handle: DiscoveryHandle | undefined;
  private socksServer: Server | undefined;
  private httpServer: HttpProxyServer | undefined;
  private tls: TlsListener | undefined;
  private expiryWarnedAt = 0;
  private readonly timers = new TimerSet();
  private stopping = false;
  private draining: Promise<void> | undefined;
  /** While the stop notice runs: when the proxy ports close. */
  private portsCloseAt: number | undefined;
  private closingListeners: Promise<void>[] = [];
  private advertised = false;
  private keeper: PoolKeeper | undefined;
  private clerk: ReceiptClerk | undefined;
  private ledgerHandle: Ledger | undefined;
  private readonly countries: CountryChecker;

  private readonly registry: Registry | undefined;

  constructor(
    init: GatewayInit,
    deps: {
      logger: Logger;
      metrics: GatewayMetrics;
      store: CustomerBook;
      sessions: SessionBook;
      countries: CountryChecker;
      registry?: Registry;
    },
  ) {
    this.init = init;
    this.countries = deps.countries;
    this.registry = deps.registry;
    this.log = deps.logger;
    this.metrics = deps.metrics;
    this.metrics.observePool(() => this.pool.countByCountry());
    this.sessions = deps.sessions;
    this.snapshots = init.meterDatabase == null ? undefined : new MeterSnapshots(init.meterDatabase);
    this.guard = new MeteringGuard({ logger: deps.logger, metrics: deps.metrics.metering });
    const connector = new Connector(
      {
        connectTimeoutMs: init.connectTimeoutMs,
        maxAttempts: init.maxAttempts,
        sessionGraceMs: init.sessionGraceMs ?? 15_000,
      },
      { pool: this.pool, sessions: this.sessions, metrics: deps.metrics, logger: deps.logger },
    );
    this.service = new TunnelService({
      store: deps.store,
      connector,
      metrics: deps.metrics,
      logger: deps.logger,
      guard: this.guard,
    });
  }

  get peerId(): string {
    return this.handle?.node.peerId.toString() ?? '';
  }

  get multiaddrs(): string[] {
    return this.handle?.node.getMultiaddrs().map(String) ?? [];
  }

  get ledger(): Ledger {
    if (this.ledgerHandle == null) throw new Error('gateway not started');
    return this.ledgerHandle;
  }

  get receipts(): ReceiptClerk {
    if (this.clerk == null) throw new Error('gateway not started');
    return this.clerk;
  }

  get isAdvertised(): boolean {
    return this.advertised;
  }

  /**
   * Whether a new tunnel could open now, for a load balancer's health check: why not, in words that
   * name no store, relay or customer (the admin API answers it without the token).
   */
  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (this.portsCloseAt != null)
      reasons.push(
        `stopping: new connections are still served for ${Math.max(0, Math.ceil((this.portsCloseAt - performance.now()) / 1000))} s`,
      );
    else if (this.draining != null) reasons.push('stopping: open tunnels are finishing');
    else if (this.handle == null) reasons.push('not running');
    if (!this.guard.available) reasons.push('metering unavailable: it cannot write usage (see its log)');
    if (this.pool.routable().length === 0) reasons.push('no routable relay');
    return { ready: reasons.length === 0, reasons };
  }

  get socksAddress(): AddressInfo {
    return this.socksServer?.address() as AddressInfo;
  }

  get httpAddress(): AddressInfo {
    return this.httpServer?.address() as AddressInfo;
  }

  get httpsAddress(): AddressInfo | undefined {
    return this.tls?.server.address() as AddressInfo | undefined;
  }

  /**
   * Loads the HTTPS port's certificate and key again (SIGHUP, and once a minute when the files
   * changed); new connections get the new one. A pair that does not load leaves the old one in use.
   */
  async reloadCertificate(force = true): Promise<void> {
    if (this.tls == null) return;
    try {
      const loaded = await this.tls.reload(force);
      if (loaded != null) this.logCertificate(loaded, 'TLS certificate reloaded');
      // A certificate nobody renews: said again once a day until it is.
      else if (Date.now() - this.expiryWarnedAt > 86_400_000) this.logCertificate(this.tls.certificate);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'TLS certificate not reloaded: the old one stays in use');
    }
  }

  private async openLedgerStore(): Promise<LedgerStore> {
    try {
      return await openLedgerStore(this.init.ledger.store);
    } catch (err) {
      const where = redactUrl(this.init.ledger.store);
      throw new SetupError('ledger.store', `cannot open ${where}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Logs a certificate just loaded (`message`), and warns if it expires within 14 days. */
  private logCertificate(certificate: LoadedCertificate, message?: string): void {
    const days = (certificate.validTo.getTime() - Date.now()) / 86_400_000;
    const fields = { subject: certificate.subject, validTo: certificate.validTo.toISOString() };
    if (days < 14) {
      this.expiryWarnedAt = Date.now();
      this.log.warn(
        fields,
        `the HTTPS port's TLS certificate ${days < 0 ? 'has expired' : `expires in ${Math.floor(days)} days`}: renew it (the gateway loads the new one within a minute)`,
      );
    } else if (message != null) this.log.info(fields, message);
  }

  async start(): Promise<{ identityCreated: boolean }> {
    // A certificate that does not load stops the start before anything listens.
    const certificate = this.init.https == null ? undefined : await loadCertificate(this.init.https);
    this.handle = await createDiscovery({
      identityPath: this.init.identityPath,
      listen: this.init.listen,
      announce: this.init.announce,
      bootstrap: this.init.bootstrap,
      dhtMode: 'server',
      allowPrivateAddresses: this.init.allowPrivateAddresses,
      agentVersion: `meadow-gateway/${MEADOW_VERSION}`,
      onBootstrapError: (addr, err) => this.log.warn({ addr, err: err.message }, 'bootstrap peer unreachable'),
      registry: this.registry,
    });
    this.service.gatewayId = this.handle.node.peerId.toString();
    const keeper = new PoolKeeper(this.init.pool, {
      pool: this.pool,
      node: this.handle.node,
      discovery: this.handle.discovery,
      countries: this.countries,
      metrics: this.metrics,
      logger: this.log,
    });
    this.keeper = keeper;
    await this.handle.node.handle(TUNNEL_PROTOCOL, (stream, connection) => keeper.onRelayLink(stream, connection), {
      maxInboundStreams: 4,
    });
    // Relays ask which gateways share this one's sessions, to link to those too (none unless shared).
    const self = this.handle.node.peerId.toString();
    await this.handle.node.handle(
      GATEWAY_SIBLINGS_PROTOCOL,
      (stream) => answerSiblings(stream, async () => (await this.sessions.siblings?.(self)) ?? []),
      { maxInboundStreams: 16 },
    );
    const signer = createSigner(this.handle.privateKey.raw);
    const ledger = await createLedger(
      {
        network: this.init.ledger.network,
        feePpm: this.init.ledger.feePpm,
        store: guardedLedgerStore(await this.openLedgerStore(), this.guard),
      },
      { signer },
    );
    this.ledgerHandle = ledger;
    this.clerk = new ReceiptClerk(
      { ...this.init.ledger, requestTimeoutMs: 5_000 },
      {
        ledger,
        node: this.handle.node,
        channels: this.service.channelBytes,
        priceOf: (name) => this.service.store.find(name)?.priceMicrosPerGb ?? DEFAULT_PLAN.priceMicrosPerGb,
        logger: this.log.child({ component: 'receipts' }),
        metrics: this.metrics.ledger,
        snapshots: this.snapshots,
        onSnapshot: (err) => (err == null ? this.guard.succeeded('meters') : this.guard.failed('meters', err)),
      },
    );
    this.clerk.start();
    const clerk = this.clerk;
    keeper.onRelayLeaving = (relay) => void clerk.lastRound(relay.peerId, () => relay.mux.activeTunnels === 0);
    this.socksServer = createSocksServer(this.service, { handshakeTimeoutMs: this.init.handshakeTimeoutMs });
    this.httpServer = createHttpProxy(this.service, {
      handshakeTimeoutMs: this.init.handshakeTimeoutMs,
      idleTimeoutMs: this.init.idleTimeoutMs,
    });
    this.socksServer.listen(this.init.socks.port, this.init.socks.host);
    this.httpServer.listen(this.init.http.port, this.init.http.host);
    const listening = [once(this.socksServer, 'listening'), once(this.httpServer, 'listening')];
    if (this.init.https != null && certificate != null) {
      this.tls = new TlsListener(this.init.https, certificate, this.httpServer, this.init.handshakeTimeoutMs);
      this.tls.server.listen(this.init.https.port, this.init.https.host);
      listening.push(once(this.tls.server, 'listening'));
      this.logCertificate(certificate, 'TLS certificate loaded for the HTTPS proxy port');
      this.metrics.observeCertificateExpiry(() => this.tls?.certificate.validTo);
      const check = setInterval(() => void this.reloadCertificate(false), 60_000);
      check.unref();
      this.timers.keep(check);
    }
    await Promise.all(listening);
    const tasks: TaskContext<(typeof GATEWAY_TASKS)[number]> = {
      timers: this.timers,
      log: this.log,
      stopped: () => this.stopping,
      failed: (task) => this.metrics.taskFailures.inc({ task }),
    };
    const every = (ms: number) => ({ firstDelayMs: ms, nextDelayMs: () => ms });
    const { descriptorRefreshMs, pool } = this.init;
    repeatTask(tasks, {
      name: 'advertise',
      what: 'advertise this gateway in the DHT',
      task: () => this.advertise(),
      firstDelayMs: 200,
      // Until another DHT server holds the record (at the first try the bootstrap connection is
      // often not up yet), again in 2 s rather than in a minute: a gateway that hung in its first
      // minute was otherwise in nobody's provider records, and a new relay found no gateway.
      nextDelayMs: () => (this.advertised ? 60_000 : 2_000),
    });
    const announce = this.sessions.announce?.bind(this.sessions);
    if (announce != null)
      repeatTask(tasks, {
        name: 'announce_to_siblings',
        what: 'tell the gateways sharing the session store that this one is alive',
        task: () => announce(self),
        firstDelayMs: 0,
        nextDelayMs: () => SIBLING_ANNOUNCE_MS,
      });
    repeatTask(tasks, {
      name: 'refresh_descriptors',
      what: "refresh the relays' descriptors",
      task: () => keeper.refreshAll(),
      ...every(descriptorRefreshMs),
    });
    repeatTask(tasks, {
      name: 'health_check',
      what: 'check the health of relay links',
      task: () => keeper.checkHealth(),
      ...every(pool.healthCheckIntervalMs),
    });
    repeatTask(tasks, {
      name: 'stall_check',
      what: 'check relay links for stalls',
      task: async () => keeper.checkStalls(),
      ...every(1_000),
    });
    const flush = setInterval(() => {
      // Any flush that completes lifts a refusal: a shared store can fail on its read alone, with
      // nothing to write, and must not stay refused until traffic it refuses gives it something.
      const write = (store: 'usage' | 'sessions', task: () => boolean | Promise<boolean>): void => {
        try {
          const done = task();
          if (typeof done === 'boolean') this.guard.succeeded(store);
          else
            done.then(
              () => this.guard.succeeded(store),
              (err: Error) => this.guard.failed(store, err),
            );
        } catch (err) {
          this.guard.failed(store, err as Error);
        }
      };
      write('usage', () => this.service.store.flush());
      write('sessions', () => this.sessions.flush());
    }, 1_000);
    flush.unref();
    this.timers.keep(flush);
    return { identityCreated: this.handle.identityCreated };
  }

  /**
   * The first half of a stop, for restarts that crawlers should not notice: `/ready` answers 503,
   * so a load balancer sends crawlers elsewhere; after `stopNoticeMs` the proxy ports stop
   * accepting, and open tunnels get `drainTimeoutMs` to finish, metered and receipted as ever.
   * `stop()` drains first.
   */
  drain(): Promise<void> {
    this.draining ??= this.giveNotice().then(() => this.letTunnelsFinish());
    return this.draining;
  }

  private async giveNotice(): Promise<void> {
    const noticeMs = this.init.stopNoticeMs ?? 0;
    if (noticeMs === 0) return;
    this.portsCloseAt = performance.now() + noticeMs;
    // Kept-alive clients reconnect, and the load balancer sends them elsewhere.
    this.httpServer?.drain();
    this.log.info(
      { stopNoticeMs: noticeMs },
      'stopping: /ready answers 503 now; the proxy ports go on serving until load balancers have moved away',
    );
    await new Promise((resolve) => setTimeout(resolve, noticeMs));
    this.portsCloseAt = undefined;
  }

  private async letTunnelsFinish(): Promise<void> {
    this.stopping = true;
    this.closingListeners = [this.socksServer, this.httpServer, this.tls?.server].map(
      (server) => new Promise<void>((resolve) => (server == null ? resolve() : server.close(() => resolve()))),
    );
    this.httpServer?.drain();
    const open = this.service.activeTunnels;
    const drainMs = this.init.drainTimeoutMs ?? 10_000;
    if (open === 0 || drainMs === 0) return;
    this.log.info({ tunnels: open, drainMs }, 'stopping: letting open tunnels finish');
    const deadline = performance.now() + drainMs;
    while (this.service.activeTunnels > 0 && performance.now() < deadline) {
      // A kept-alive connection whose response had begun before the drain: closed once it is idle.
      this.httpServer?.closeIdleConnections();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const left = this.service.activeTunnels;
    if (left > 0) this.log.warn({ tunnels: left, drainMs }, 'ending the tunnels still open after the drain');
    else this.log.info('every open tunnel finished');
  }

  async stop(): Promise<void> {
    await this.drain();
    this.keeper?.stop();
    this.timers.clear();
    const closing = this.closingListeners;
    this.httpServer?.closeAllConnections();
    for (const relay of this.pool.all()) relay.mux.abort(new Error('gateway stopping'));
    await this.clerk?.stop();
    await this.handle?.stop();
    await this.ledgerHandle?.store.close();
    await Promise.all(closing);
    for (const [what, close] of [
      ['usage', () => this.service.store.close()],
      [
        'sessions',
        async () => {
          await this.sessions.leave?.(this.peerId);
          await this.sessions.close();
        },
      ],
      ['meters', () => this.snapshots?.close()],
    ] as const) {
      try {
        await close();
      } catch (err) {
        this.log.error({ store: what, err: (err as Error).message }, 'could not write the last usage at stop');
      }
    }
  }

  private async advertise(): Promise<void> {
    const stored = (await this.handle?.discovery.advertiseGateway({ signal: AbortSignal.timeout(15_000) })) ?? 0;
    if (stored > 0 && !this.advertised) this.log.info({ dhtServers: stored }, 'advertised as a gateway in the DHT');
    this.advertised = stored > 0;
  }
}
