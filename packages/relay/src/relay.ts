import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Connection, PeerId, PeerInfo, Stream } from '@libp2p/interface';
import {
  askSiblings,
  createDiscovery,
  type DiscoveryHandle,
  ipOfMultiaddr,
  LinkWatch,
  type RelayDescriptor,
} from '@meadow/discovery';
import {
  type checkSettlement,
  createSigner,
  RECEIPT_PROTOCOL,
  type ReceiptResponse,
  readMessage,
  requestSchema,
  writeMessage,
} from '@meadow/ledger';
import {
  bridge,
  formatHostPort,
  isMeadowError,
  LiveCounter,
  MEADOW_VERSION,
  MeadowError,
  NOTICE_DESCRIPTOR_CHANGED,
  NOTICE_RELAY_LEAVING,
  NOTICE_RELAY_STOPPING,
  type OpenRequest,
  repeatTask,
  streamLink,
  type TaskContext,
  TimerSet,
  TUNNEL_PROTOCOL,
  type Tunnel,
  TunnelMux,
} from '@meadow/protocol';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { connectToTarget } from './connect.ts';
import { EgressGuard } from './egress.ts';
import { ExitPolicy } from './exit-policy.ts';
import { GatewayGroups } from './gateway-groups.ts';
import { GatewayTrials, type TrialVerdict } from './gateway-trials.ts';
import { HouseholdControls, type HouseholdInit } from './household/controls.ts';
import { LinePacer } from './household/line-pacer.ts';
import { MeterStore } from './household/meter-store.ts';
import { QualityTracker } from './household/quality.ts';
import { HouseholdYield, type YieldState } from './household/yield.ts';
import { HouseholdNetworks } from './household-networks.ts';
import { exposedMajorGc, IdleTrim } from './idle-trim.ts';
import type { RELAY_TASKS, RelayMetrics } from './metrics.ts';
import { type BytesOnTheirWay, type CheckedEarning, checkedEarnings } from './receipts/earnings.ts';
import { ReceiptBook } from './receipts/receipt-book.ts';
import { ReceiptDesk, type ReceiptDeskInit } from './receipts/receipt-desk.ts';
import { TargetResolver, type TargetResolverInit } from './target-resolver.ts';

/** An idle relay hands memory back after carrying nothing this long, and again every minute (IdleTrim). */
const IDLE_TRIM = { quietMs: 20_000, repeatMs: 60_000 };

export interface RelayInit {
  identityPath: string;
  /** Folder for the relay's SQLite meter and control token. */
  dataDir: string;
  household: HouseholdInit;
  /** libp2p listen multiaddrs; a relay behind NAT may list none. */
  listen: string[];
  bootstrap: string[];
  /**
   * Answer DHT queries too (needs a reachable listen address). Off by default: most households are
   * behind NAT, and a DHT of clients around a few servers converges fastest.
   */
  dhtServer?: boolean;
  /** Keep loopback/private addresses in DHT answers (local networks and tests only). */
  allowPrivateAddresses: boolean;
  country: string;
  payoutAddress: string;
  /** Local address outbound target connections are made from. */
  egressAddress?: string;
  exitPolicy: string[];
  /** Test-only exact `host:port` targets allowed despite the forbidden ranges. */
  allowExactTargets: string[];
  /** Sites the household does not share its connection with (each with every name under it). */
  refuseDomains?: string[];
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  maxTunnels: number;
  capacityBytesPerSecond: number;
  /** Groups of gateways to link to: a gateway and the siblings that share its sessions count as one. */
  gatewaysToKeep: number;
  /** The most siblings linked per group beside the gateway found first (default 8; 0: none). */
  gatewaySiblings?: number;
  /**
   * Every this long (±50%) a relay linked to all the groups it keeps tries one more, and as long
   * after lets go of the group that carried the fewest bytes (`gateway-trials.ts`); 0 or unset: never.
   */
  gatewayTrialEveryMs?: number;
  descriptorTtlMs: number;
  drainTimeoutMs: number;
  logTargets: boolean;
  /** Where websites' names are resolved (`target-resolver.ts`); default: the system's servers, cached. */
  dns?: Pick<TargetResolverInit, 'servers' | 'cacheSize' | 'maxTtlSeconds'>;
  /** The receipt ledger: network name and how far a gateway's proposal may stray from the relay's own count. */
  ledger: ReceiptDeskInit;
  /** A gateway link silent this long is pinged (default 10 s); it also keeps NAT mappings open. */
  linkKeepaliveMs?: number;
  /** No ping reply within this (default 5 s) closes the link and dials again. */
  linkProbeTimeoutMs?: number;
  /**
   * Queueing delay the relay may add to the household's line before it slows down to make room
   * for the household's own traffic (`household/yield.ts`); 0 or unset: it never does.
   */
  yieldTargetDelayMs?: number;
}

export interface YieldStatus {
  /** `rateLimit.yieldAboveDelayMs`: 0 when the relay never yields. */
  aboveDelayMs: number;
  /** How much slower than empty the household's line was at the last look (ms), if looked at. */
  queueDelayMs: number | null;
  /** The ceiling on what the relay sends while it yields (bytes/s); null while it does not. */
  ceilingBytesPerSecond: number | null;
}

/** While yielding, the relay's rate never goes below this (64 kB/s), so its tunnels do not stall. */
const YIELD_FLOOR_BYTES_PER_SECOND = 64_000;
/** A yield round: pings to every linked gateway, then the ceiling adjusted. */
const YIELD_ROUND_MS = 1_000;
/** A yield ping unanswered this long counts as a round trip this long. */
const YIELD_PING_TIMEOUT_MS = 3_000;
/** Idle, a yield round pings only every this many rounds: enough to learn the empty line's round trip. */
const IDLE_SAMPLE_ROUNDS = 10;

const DEFAULT_GATEWAY_SIBLINGS = 8;
/** How often a linked gateway is asked again for its siblings (gateways join and leave). */
const SIBLINGS_REFRESH_MS = 60_000;
/** How often the DHT is searched for named siblings not linked yet (one may not be listed yet). */
const SIBLING_SEARCH_INTERVAL_MS = 30_000;
/** A gateway let go after a trial keeps its link this long at most while its open tunnels end. */
const LET_GO_DRAIN_MS = 10 * 60_000;
/** At stop, how long the relay waits for gateways' final receipts once its tunnels have ended. */
const FINAL_RECEIPT_WAIT_MS = 3_000;

export interface GatewayLinkStatus {
  peerId: string;
  activeTunnels: number;
  since: string;
  /** Gateways that share sticky sessions are one group (1, 2, …), which `gateways.keep` counts as one. */
  group: number;
  /** Linked beside the groups kept, for a while, to see whether it has work for this relay. */
  onTrial: boolean;
  /** Let go after a trial: it was told to open no more tunnels, and the link closes once they end. */
  leaving: boolean;
}

interface GatewayLink {
  mux: TunnelMux;
  peer: PeerId;
  since: Date;
  /** Pings the gateway when the link goes silent (and keeps NAT mappings open). */
  watch: LinkWatch;
  /** Set when the relay let this gateway go; the link closes once its tunnels end. */
  leavingSince?: number;
}

export class Relay {
  readonly init: RelayInit;
  /** Payload bytes per gateway, from the tunnels' own counters; persisted so receipts survive restarts. */
  readonly meter = new LiveCounter('relay');
  private readonly log: Logger;
  private readonly metrics: RelayMetrics;
  private readonly policy: ExitPolicy;
  private guard: EgressGuard | undefined;
  private handle: DiscoveryHandle | undefined;
  private readonly links = new Map<string, GatewayLink>();
  private readonly dialing = new Set<string>();
  private readonly groups: GatewayGroups;
  private readonly trials: GatewayTrials;
  /** When the DHT was last searched for siblings that were not linked yet. */
  private siblingSearchAt = 0;
  private readonly timers = new TimerSet();
  private stopping = false;
  /** Paces what the relay sends to all its gateways while it yields to the household. */
  private readonly pacer = new LinePacer();
  /** The last yield round's outcome (probes aside): a ceiling in it means the relay is holding back. */
  private lastYield: YieldState | undefined;
  private activeTunnels = 0;
  private descriptor: RelayDescriptor | undefined;
  private readonly openTunnels = new Set<Tunnel>();
  /** Tunnels ever bridged: the idle trim compares it between ticks to see short tunnels too. */
  private tunnelsCarried = 0;
  private store: MeterStore | undefined;
  private householdControls: HouseholdControls | undefined;
  private qualityTracker: QualityTracker | undefined;
  private readonly settlementChecks = new Map<string, ReturnType<typeof checkSettlement>>();
  private book: ReceiptBook | undefined;
  private desk: ReceiptDesk | undefined;
  readonly startedAt = new Date();

  private readonly registry: Registry | undefined;

  constructor(init: RelayInit, components: { logger: Logger; metrics: RelayMetrics; registry?: Registry }) {
    this.registry = components.registry;
    this.init = init;
    this.log = components.logger;
    this.metrics = components.metrics;
    this.policy = new ExitPolicy(init.exitPolicy);
    this.groups = new GatewayGroups(init.gatewaySiblings ?? DEFAULT_GATEWAY_SIBLINGS);
    this.trials = new GatewayTrials(init.gatewayTrialEveryMs ?? 0);
  }

  get peerId(): string {
    if (this.handle == null) throw new Error('relay not started');
    return this.handle.node.peerId.toString();
  }

  get multiaddrs(): string[] {
    return this.handle?.node.getMultiaddrs().map(String) ?? [];
  }

  /** Yielding to the household's own traffic: the setting, and what the last round measured. */
  get yieldStatus(): YieldStatus {
    return {
      aboveDelayMs: this.init.yieldTargetDelayMs ?? 0,
      queueDelayMs: this.lastYield?.queueDelayMs ?? null,
      ceilingBytesPerSecond: this.lastYield?.ceilingBytesPerSecond ?? null,
    };
  }

  get active(): number {
    return this.activeTunnels;
  }

  /** The DNS servers websites' names are resolved with, and whether they answer. */
  get dns():
    | { servers: string[]; answering: true }
    | { servers: string[]; answering: false; silentSince: string; lastError: string } {
    const resolver = this.guard?.dns;
    const servers = resolver?.servers ?? [];
    const report = resolver?.health.report();
    if (report == null || report.answering) return { servers, answering: true };
    return {
      servers,
      answering: false,
      silentSince: new Date(report.silentSince ?? Date.now()).toISOString(),
      lastError: report.lastError ?? 'no answer',
    };
  }

  get publishedDescriptor(): RelayDescriptor | undefined {
    return this.descriptor;
  }

  get quality(): QualityTracker {
    if (this.qualityTracker == null) throw new Error('relay not started');
    return this.qualityTracker;
  }

  /** Usage per step for charts (bytes both directions, tunnels). */
  usageSeries(boundaries: number[]): ReturnType<MeterStore['series']> {
    if (this.store == null) throw new Error('relay not started');
    return this.store.series(boundaries);
  }

  get controls(): HouseholdControls {
    if (this.householdControls == null) throw new Error('relay not started');
    return this.householdControls;
  }

  gatewayLinks(): GatewayLinkStatus[] {
    // Groups numbered in the order of their first link, which is the order of `links`.
    const groupOf = new Map<string, number>();
    this.groups.groups(this.links.keys()).forEach((members, i) => {
      for (const id of members) groupOf.set(id, i + 1);
    });
    return [...this.links].map(([peerId, { mux, since, leavingSince }]) => ({
      peerId,
      activeTunnels: mux.activeTunnels,
      since: since.toISOString(),
      group: groupOf.get(peerId) ?? 0,
      onTrial: this.trials.onTrial === peerId,
      leaving: leavingSince != null,
    }));
  }

  async start(): Promise<{ identityCreated: boolean }> {
    this.store = new MeterStore(join(this.init.dataDir, 'meter.db'));
    const controls = new HouseholdControls(this.init.household, this.store);
    this.householdControls = controls;
    const store = this.store;
    this.qualityTracker = new QualityTracker(store);
    let lastOnlineTick = Date.now();
    this.metrics.setState(controls.state.state);
    this.metrics.observeRateLimits(() => controls.rateLimitWaits());
    controls.on('state', (info) => this.onStateChange(info.state, info.reason, info.until));
    this.handle = await createDiscovery({
      identityPath: this.init.identityPath,
      listen: this.init.listen,
      bootstrap: this.init.bootstrap,
      dhtMode: this.init.dhtServer === true && this.init.listen.length > 0 ? 'server' : 'client',
      allowPrivateAddresses: this.init.allowPrivateAddresses,
      agentVersion: `meadow-relay/${MEADOW_VERSION}`,
      onBootstrapError: (addr, err) => this.log.warn({ addr, err: err.message }, 'bootstrap peer unreachable'),
      registry: this.registry,
    });
    const node = this.handle.node;
    const household = new HouseholdNetworks({ egressAddress: this.init.egressAddress });
    // Set before the first identify completes (the bootstrap dial is still in flight here).
    node.addEventListener('peer:identify', (evt) => {
      const observed = evt.detail.observedAddr;
      const address = observed == null ? undefined : ipOfMultiaddr(observed);
      if (address != null && household.observe(address))
        this.log.info(
          { address, peer: evt.detail.peerId.toString() },
          "a peer sees this household at a public address: tunnels to it are refused (it is the router's own)",
        );
    });
    this.book = new ReceiptBook(join(this.init.dataDir, 'receipts.db'));
    for (const [gateway, counts] of this.book.meters()) this.meter.restore(gateway, counts);
    this.desk = new ReceiptDesk(this.init.ledger, {
      book: this.book,
      signer: createSigner(this.handle.privateKey.raw),
      counter: this.meter,
      logger: this.log.child({ component: 'receipts' }),
      onResult: (result) => this.metrics.receipts.inc({ result }),
    });
    await this.handle.discovery.serveOwnDescriptor();
    await node.handle(RECEIPT_PROTOCOL, (stream, connection) => this.answerReceipt(stream, connection), {
      maxInboundStreams: 8,
    });
    const ownPorts = new Set(
      node.getMultiaddrs().map((ma) => Number(ma.getComponents().find((c) => c.name === 'tcp')?.value)),
    );
    const egressFamily = this.init.egressAddress == null ? 0 : isIP(this.init.egressAddress);
    const dns = new TargetResolver({
      ...this.init.dns,
      health: {
        onChange: (report) => {
          if (report.answering) this.log.info({ servers: dns.servers }, 'DNS servers answer again');
          else
            this.log.warn(
              { servers: dns.servers, error: report.lastError, since: new Date(report.silentSince ?? 0).toISOString() },
              'DNS servers do not answer: tunnels to names go to other relays until they do (check the router, or dns.servers)',
            );
        },
      },
      // A socket bound to an egress address reaches only its family; otherwise IPv6 is asked for
      // where this machine has a public IPv6 address.
      families: () =>
        egressFamily === 0
          ? { ipv4: true, ipv6: household.hasPublicIpv6 }
          : { ipv4: egressFamily === 4, ipv6: egressFamily === 6 },
    });
    this.metrics.observeDns(dns);
    this.guard = new EgressGuard({
      policy: this.policy,
      household,
      ownPorts,
      allowExactTargets: new Set(this.init.allowExactTargets),
      dns,
      refuseDomains: new Set(this.init.refuseDomains ?? []),
    });
    const tasks: TaskContext<(typeof RELAY_TASKS)[number]> = {
      timers: this.timers,
      log: this.log,
      stopped: () => this.stopping,
      failed: (task) => this.metrics.taskFailures.inc({ task }),
    };
    // Every second until the relay has a descriptor and a gateway, then at the task's own pace.
    const untilReady = (ms: number) => () => (this.descriptor == null || this.links.size === 0 ? 1_000 : ms);
    repeatTask(tasks, {
      name: 'publish_descriptor',
      what: 'publish the descriptor in the DHT',
      task: () => this.publish(),
      firstDelayMs: 250,
      nextDelayMs: untilReady(Math.max(1_000, Math.floor(this.init.descriptorTtlMs / 3))),
    });
    repeatTask(tasks, {
      name: 'find_gateways',
      what: 'find gateways to link to',
      task: () => this.maintainGatewayLinks(),
      firstDelayMs: 300,
      nextDelayMs: untilReady(5_000),
    });
    this.every(1_000, () => controls.evaluate());
    this.every(1_000, () => this.checkGatewayLinks());
    if ((this.init.yieldTargetDelayMs ?? 0) > 0) this.startYielding(this.init.yieldTargetDelayMs as number);
    this.every(60_000, () => {
      if (household.refresh()) this.log.info('network interfaces changed: the household networks refused are updated');
    });
    const gc = exposedMajorGc();
    const trim = new IdleTrim(
      IDLE_TRIM,
      gc &&
        (() => {
          const started = performance.now();
          gc();
          this.log.debug({ ms: Math.round(performance.now() - started) }, 'idle: memory handed back (one major GC)');
        }),
    );
    let carriedAtLastTick = this.tunnelsCarried;
    this.every(5_000, () => {
      trim.tick(this.openTunnels.size > 0 || this.tunnelsCarried !== carriedAtLastTick);
      carriedAtLastTick = this.tunnelsCarried;
    });
    this.every(5_000, () => {
      const now = Date.now();
      store.addOnline(now, (now - lastOnlineTick) / 1000);
      lastOnlineTick = now;
      store.flush();
      this.saveMeters();
    });
    if (controls.state.state !== 'serving')
      this.log.warn({ state: controls.state.state, reason: controls.state.reason }, 'not serving');
    return { identityCreated: this.handle.identityCreated };
  }

  /**
   * Makes room for the household's own traffic: while tunnels are open (or a ceiling holds), each
   * linked gateway is pinged every second over the link, and the delay beyond the line's empty
   * round trip sets a ceiling on the relay's rate (`household/yield.ts`).
   */
  private startYielding(targetDelayMs: number): void {
    const line = new HouseholdYield({ targetDelayMs, minBytesPerSecond: YIELD_FLOOR_BYTES_PER_SECOND });
    const carried = () => this.pacer.sent;
    let last = { at: performance.now(), bytes: carried() };
    let running = false;
    let round = 0;
    this.every(YIELD_ROUND_MS, () => {
      if (running || this.handle == null) return;
      round++;
      const busy = this.openTunnels.size > 0 || this.pacer.ceiling != null;
      // Idle, the relay still learns the empty line's round trip: at once for a new link, then
      // every ten rounds.
      const newLink = [...this.links.keys()].some((id) => !line.knows(id));
      if (!busy && !newLink && round % IDLE_SAMPLE_ROUNDS !== 0) {
        last = { at: performance.now(), bytes: carried() };
        return;
      }
      running = true;
      const node = this.handle.node;
      const pings = [...this.links.entries()].map(async ([id, link]) => {
        const signal = AbortSignal.timeout(YIELD_PING_TIMEOUT_MS);
        try {
          line.sample(id, await node.services.ping.ping(link.peer, { signal }), !busy);
        } catch {
          // No reply in time is a queue at least that long (a dead link is the link watch's business).
          if (signal.aborted) line.sample(id, YIELD_PING_TIMEOUT_MS, !busy);
        }
      });
      for (const id of line.links()) if (!this.links.has(id)) line.forget(id);
      void Promise.all(pings)
        .then(() => {
          const now = performance.now();
          const bytes = carried();
          const rate = ((bytes - last.bytes) * 1000) / Math.max(1, now - last.at);
          last = { at: now, bytes };
          if (busy) this.applyYield(line.adjust(rate), targetDelayMs);
        })
        .finally(() => {
          running = false;
        });
    });
  }

  private applyYield(state: YieldState, targetDelayMs: number): void {
    const before = this.lastYield?.ceilingBytesPerSecond != null;
    const ceiling = state.ceilingBytesPerSecond;
    this.pacer.setCeiling(ceiling);
    this.log.debug({ ...state, sentBytes: this.pacer.sent }, 'yield round');
    if (state.probing) return;
    this.lastYield = state;
    this.metrics.yieldCeiling.set(ceiling ?? 0);
    if (state.queueDelayMs != null) this.metrics.lineQueueDelay.set(state.queueDelayMs / 1000);
    if (!before && ceiling != null)
      this.log.info(
        { queueDelayMs: state.queueDelayMs, targetDelayMs, ceilingBytesPerSecond: ceiling },
        "making room for the household: its line is slower than when it is empty, so the relay's rate is held down",
      );
    else if (before && ceiling == null)
      this.log.info("the household's line is quiet again: the relay's rate is no longer held down");
  }

  private every(intervalMs: number, task: () => void): void {
    const timer = setInterval(() => {
      try {
        task();
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'periodic task failed');
      }
    }, intervalMs);
    this.timers.keep(timer);
  }

  private onStateChange(state: RelayDescriptor['state'], reason: string, until?: number): void {
    this.metrics.setState(state);
    this.log.info(
      { state, reason, until: until == null ? undefined : new Date(until).toISOString() },
      'relay state changed',
    );
    if (state === 'hibernating') {
      // The cap is reached: no byte more, so tunnels still open are reset (not ended: a cut body must not look complete).
      for (const tunnel of this.openTunnels) tunnel.destroy(this.controls.notServing());
    }
    this.publish().then(
      () => {
        // A hint to linked gateways: they fetch the new descriptor from the DHT themselves.
        for (const { mux } of this.links.values()) mux.notify(NOTICE_DESCRIPTOR_CHANGED);
      },
      (err: Error) => this.log.warn({ err: err.message }, 'could not republish the descriptor'),
    );
  }

  /**
   * Stops taking tunnels (and tells each gateway, so it sends no more), lets open ones finish up to
   * the drain deadline, waits a moment for each gateway's final receipt, then closes everything.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.timers.clear();
    for (const link of this.links.values()) link.mux.notify(NOTICE_RELAY_STOPPING);
    const deadline = Date.now() + this.init.drainTimeoutMs;
    while (this.activeTunnels > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await this.awaitFinalReceipts(Date.now());
    for (const { mux } of this.links.values())
      mux.abort(new MeadowError('MEADOW_ERR_RELAY_NOT_SERVING', 'relay stopping'));
    this.links.clear();
    this.guard?.dns.close();
    await this.handle?.stop();
    this.store?.close();
    this.saveMeters();
    this.book?.close();
  }

  /**
   * A gateway told that the relay stops proposes once the relay's tunnels through it have ended:
   * waiting for that receipt (a few seconds at most) gets the household paid for its last bytes
   * now, rather than when the relay returns. Waits for each gateway that owes bytes until it has
   * proposed since `drainedAt`, when the tunnels had ended (an earlier round, during the drain, did
   * not cover the last bytes; a gateway that counted fewer than the relay will not catch up).
   */
  private async awaitFinalReceipts(drainedAt: number): Promise<void> {
    const desk = this.desk;
    if (desk == null || this.links.size === 0) return;
    const unsigned = (): Array<[string, number]> =>
      [...this.links.keys()].map((id): [string, number] => [id, desk.unsignedBytes(id)]).filter(([, n]) => n > 0);
    const waitingFor = () => unsigned().filter(([id]) => (desk.lastProposalAt(id) ?? 0) < drainedAt);
    const until = Date.now() + FINAL_RECEIPT_WAIT_MS;
    while (waitingFor().length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    const silent = new Set(waitingFor().map(([id]) => id));
    const short = unsigned().filter(([id]) => !silent.has(id));
    if (silent.size === 0 && short.length === 0)
      this.log.info({ gateways: this.links.size }, 'stopping: every byte carried is co-signed');
    if (silent.size > 0)
      this.log.warn(
        { gateways: [...silent] },
        `stopping: no last receipt within ${FINAL_RECEIPT_WAIT_MS / 1000} s; the gateway proposes the bytes when the relay is back`,
      );
    if (short.length > 0)
      this.log.warn(
        { unsignedBytes: Object.fromEntries(short) },
        "stopping: the gateway's last receipt counts fewer bytes than this relay carried (see meadow relay earnings)",
      );
  }

  /** Per gateway this relay carried bytes for: how many are settled, co-signed, or in no receipt yet. */
  bytesOnTheirWay(): BytesOnTheirWay[] {
    const desk = this.desk;
    if (desk == null) return [];
    return this.meter.keys().map((gateway) => desk.whereBytesAre(gateway));
  }

  /** Settled epochs, each proof checked once per process (settlements never change). */
  earnings(): CheckedEarning[] {
    return checkedEarnings(this.receipts, this.peerId, this.settlementChecks);
  }

  /** The relay's copy of its receipts, disputes and settlements (for `meadow relay earnings`). */
  get receipts(): ReceiptBook {
    if (this.book == null) throw new Error('relay not started');
    return this.book;
  }

  private saveMeters(): void {
    this.book?.saveMeters(new Map(this.meter.keys().map((gateway) => [gateway, this.meter.get(gateway)])));
  }

  private async answerReceipt(stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer.toString();
    const signal = AbortSignal.timeout(10_000);
    try {
      const request = await readMessage(stream, requestSchema, signal);
      const desk = this.desk as ReceiptDesk;
      const response: ReceiptResponse =
        request.type === 'propose' ? desk.propose(from, request.receipt) : desk.settle(from, request.settlement);
      await writeMessage(stream, response, signal);
    } catch (err) {
      this.log.warn({ gateway: from, err: (err as Error).message }, 'receipt exchange failed');
      stream.abort(err as Error);
    }
  }

  private async publish(): Promise<void> {
    if (this.handle == null) return;
    const first = this.descriptor == null;
    this.descriptor = await this.handle.discovery.publishRelay(
      {
        addrs: this.multiaddrs,
        country: this.init.country,
        capacityBytesPerSecond: this.init.capacityBytesPerSecond,
        state: this.controls.state.state,
        remainingBytes: this.controls.remainingBytes(),
        maxTunnels: this.init.maxTunnels,
        rejectedPorts: this.policy.rejectedPorts(),
        softwareVersion: MEADOW_VERSION,
        payoutAddress: this.init.payoutAddress,
      },
      { ttlMs: this.init.descriptorTtlMs, signal: AbortSignal.timeout(15_000) },
    );
    if (first) this.log.info({ country: this.init.country }, 'descriptor published in the DHT');
  }

  /**
   * Links to `gatewaysToKeep` groups of gateways found in the DHT, each gateway with the siblings it
   * names (gateways that share its sticky sessions). A sibling is linked only if the DHT lists it
   * as a gateway too: a gateway's word alone sends a relay nowhere.
   */
  private async maintainGatewayLinks(now = Date.now()): Promise<void> {
    if (this.handle == null) return;
    if (this.groups.enabled)
      for (const id of this.groups.stale(this.links.keys(), SIBLINGS_REFRESH_MS, now)) await this.learnSiblings(id);
    this.judgeTrial(now);
    const groups = this.groups.groups(this.links.keys()).length;
    const missing = this.groups.missing(this.links.keys()).filter((id) => !this.dialing.has(id));
    const searchForSiblings = missing.length > 0 && now - this.siblingSearchAt >= SIBLING_SEARCH_INTERVAL_MS;
    const leaving = [...this.links.values()].some((link) => link.leavingSince != null);
    // A relay that serves nothing would measure nothing: it tries gateways only while it serves.
    const serving = this.controls.state.state === 'serving';
    const tryOne = groups >= this.init.gatewaysToKeep && !leaving && serving && this.trials.due(now);
    if (groups >= this.init.gatewaysToKeep && !searchForSiblings && !tryOne) return;
    if (missing.length > 0) this.siblingSearchAt = now;
    // In random order, gateways let go of lately last: relays spread over the gateways there are.
    const gateways = this.trials.byRest(
      shuffled(await this.handle.discovery.findGateways({ signal: AbortSignal.timeout(10_000) })),
      (g) => g.id.toString(),
    );
    const found = new Map(gateways.map((g) => [g.id.toString(), g]));
    for (const id of missing) {
      const sibling = found.get(id);
      if (sibling != null) await this.tryLink(sibling, true);
    }
    for (const gateway of gateways) {
      // Counted again after each link: the gateway just linked may name the next one its sibling.
      if (this.groups.groups(this.links.keys()).length >= this.init.gatewaysToKeep) break;
      const id = gateway.id.toString();
      if (this.links.has(id) || this.dialing.has(id) || this.groups.isSiblingOfLinked(id, this.links.keys())) continue;
      await this.tryLink(gateway, false);
    }
    if (tryOne) await this.beginTrial(gateways, now);
  }

  /** Links to one gateway group beyond those kept, to see whether it has more work for this relay. */
  private async beginTrial(gateways: PeerInfo[], now: number): Promise<void> {
    const linked = [...this.links.keys()];
    const candidates = gateways.filter((g) => {
      const id = g.id.toString();
      return !this.links.has(id) && !this.dialing.has(id) && !this.groups.isSiblingOfLinked(id, linked);
    });
    const chosen = this.trials.choose(
      candidates.map((g) => g.id.toString()),
      now,
    );
    const gateway = candidates.find((g) => g.id.toString() === chosen);
    if (gateway == null) return;
    const carried = new Map(this.meter.keys().map((id) => [id, carriedBytes(this.meter.get(id))]));
    await this.tryLink(gateway, false);
    if (!this.links.has(gateway.id.toString())) return;
    this.trials.begin(gateway.id.toString(), carried, now);
    this.log.info(
      { gateway: gateway.id.toString(), keep: this.init.gatewaysToKeep, forMs: this.init.gatewayTrialEveryMs },
      'trying a gateway beside those kept: when the trial ends, the gateway that carried the fewest bytes is let go',
    );
  }

  /** At a trial's end, lets go of the group that carried the fewest bytes, if more than `keep` are linked. */
  private judgeTrial(now: number): void {
    if (this.trials.onTrial == null) return;
    const linkedAt = (id: string): number => this.links.get(id)?.since.getTime() ?? now;
    const groups = this.groups
      .groups([...this.links].filter(([, link]) => link.leavingSince == null).map(([id]) => id))
      .map((members) => ({ members, linkedAt: Math.min(...members.map(linkedAt)) }));
    const verdict = this.trials.judge(groups, (id) => carriedBytes(this.meter.get(id)), this.init.gatewaysToKeep, now);
    if (verdict == null) return;
    const sent = Object.fromEntries(verdict.sent.map(({ group, bytes }) => [group.members.join('+'), bytes]));
    if (verdict.letGo == null) {
      this.metrics.gatewayTrials.inc({ outcome: verdict.trialKept ? 'stayed' : 'lost' });
      this.log.info(
        { gateway: verdict.trial, bytesPerGroup: sent },
        verdict.trialKept
          ? 'gateway trial over: it stays, as no more than gateways.keep groups are linked'
          : 'gateway trial over: its link closed before the trial ended',
      );
      return;
    }
    this.metrics.gatewayTrials.inc({ outcome: verdict.trialKept ? 'stayed' : 'let_go' });
    this.letGo(verdict, sent, now);
  }

  private letGo(verdict: TrialVerdict, sent: Record<string, number>, now: number): void {
    for (const id of verdict.letGo?.members ?? []) {
      const link = this.links.get(id);
      if (link == null) continue;
      link.leavingSince = now;
      link.mux.notify(NOTICE_RELAY_LEAVING);
    }
    this.log.info(
      { trial: verdict.trial, letGo: verdict.letGo?.members, bytesPerGroup: sent, openTunnels: this.active },
      verdict.trialKept
        ? 'gateway trial over: the trial gateway carried more than one kept, which is let go once its open tunnels end'
        : 'gateway trial over: the trial gateway carried the fewest bytes and is let go once its open tunnels end',
    );
  }

  private async tryLink(gateway: PeerInfo, sibling: boolean): Promise<void> {
    await this.linkTo(gateway, sibling).catch((err: Error) =>
      this.log.warn({ gateway: gateway.id.toString(), err: err.message }, 'could not link to gateway'),
    );
  }

  /** Asks a linked gateway for its siblings; one that does not answer has none for now. */
  private async learnSiblings(gateway: string): Promise<void> {
    const link = this.links.get(gateway);
    if (this.handle == null || link == null) return;
    try {
      const siblings = await askSiblings(this.handle.node, link.peer, AbortSignal.timeout(5_000));
      if (this.links.has(gateway)) this.groups.report(gateway, siblings);
    } catch (err) {
      this.groups.report(gateway, []);
      this.log.debug({ gateway, err: (err as Error).message }, 'could not ask the gateway for its siblings');
    }
  }

  /**
   * Keeps gateway links alive and honest: a link silent for `linkKeepaliveMs` is pinged (which also
   * keeps the household router's NAT mapping open); no reply within `linkProbeTimeoutMs` means the
   * path is dead though no RST arrived (a dropped NAT mapping, a stalled uplink), so the link and
   * its connection are closed and the relay dials again.
   */
  private checkGatewayLinks(now = Date.now()): void {
    const limits = { silentMs: this.init.linkKeepaliveMs ?? 10_000, timeoutMs: this.init.linkProbeTimeoutMs ?? 5_000 };
    for (const [id, link] of this.links) {
      if (link.leavingSince != null && (link.mux.activeTunnels === 0 || now - link.leavingSince >= LET_GO_DRAIN_MS)) {
        link.mux.abort(new MeadowError('MEADOW_ERR_RELAY_NOT_SERVING', 'relay moved to another gateway'));
        continue;
      }
      link.watch.check(
        limits,
        (detail) => {
          if (this.stopping) return;
          this.log.warn({ gateway: id, reason: detail }, 'gateway link stalled: closing it and dialling again');
          link.mux.abort(new MeadowError('MEADOW_ERR_RELAY_LOST', 'gateway link stalled'));
        },
        now,
      );
    }
  }

  private async linkTo(gateway: PeerInfo, sibling: boolean): Promise<void> {
    if (this.handle == null) return;
    const id = gateway.id.toString();
    this.dialing.add(id);
    try {
      const stream = await this.handle.node.dialProtocol(gateway.id, TUNNEL_PROTOCOL, {
        signal: AbortSignal.timeout(10_000),
      });
      const mux = new TunnelMux(streamLink(stream), {
        ...((this.init.yieldTargetDelayMs ?? 0) > 0 ? { pacer: this.pacer } : {}),
        onOpen: (request) => void this.serveTunnel(request, id),
        onClose: (err) => {
          const link = this.links.get(id);
          const letGo = link?.mux === mux && link.leavingSince != null;
          if (link?.mux === mux) {
            this.links.delete(id);
            this.groups.forget(id);
          }
          this.metrics.gatewayLinks.set(this.links.size);
          if (this.stopping) return;
          if (letGo) this.log.info({ gateway: id }, 'gateway let go: link closed');
          else this.log.warn({ gateway: id, reason: err?.message }, 'gateway link closed');
        },
      });
      this.links.set(id, {
        mux,
        peer: gateway.id,
        since: new Date(),
        watch: new LinkWatch(this.handle.node, id, mux),
      });
      this.metrics.gatewayLinks.set(this.links.size);
      this.log.info({ gateway: id, ...(sibling ? { sibling: true } : {}) }, 'linked to gateway');
      if (this.groups.enabled) await this.learnSiblings(id);
    } finally {
      this.dialing.delete(id);
    }
  }

  private async serveTunnel(request: OpenRequest, gateway: string): Promise<void> {
    const { target, tunnel } = request;
    const logTarget = this.init.logTargets ? { target: formatHostPort(target.host, target.port) } : {};
    if (this.stopping)
      return this.refuse(request, new MeadowError('MEADOW_ERR_RELAY_NOT_SERVING', 'relay is stopping'));
    const refusal = this.controls.refusal();
    if (refusal != null) return this.refuse(request, refusal);
    if (this.activeTunnels >= this.init.maxTunnels) {
      return this.refuse(
        request,
        new MeadowError('MEADOW_ERR_RELAY_BUSY', `relay at its limit of ${this.init.maxTunnels} tunnels`),
      );
    }
    this.activeTunnels++;
    this.metrics.activeTunnels.inc();
    const abort = new AbortController();
    const onEarlyClose = (): void => abort.abort();
    tunnel.once('close', onEarlyClose);
    const connectStarted = performance.now();
    let connected = false;
    try {
      const addresses = await (this.guard as EgressGuard).resolve(target, { signal: abort.signal });
      const { socket, target: answered } = await connectToTarget(addresses, {
        localAddress: this.init.egressAddress,
        timeoutMs: this.init.connectTimeoutMs,
        signal: abort.signal,
      });
      tunnel.removeListener('close', onEarlyClose);
      if (tunnel.destroyed) {
        socket.destroy();
        return;
      }
      this.quality.record({ ok: true, latencyMs: performance.now() - connectStarted });
      connected = true;
      socket.setTimeout(this.init.idleTimeoutMs, () => socket.destroy(new Error('idle timeout')));
      // The bound address a SOCKS5 client sees: the configured egress address or nothing. The
      // socket's own local address would be the household's LAN address behind NAT, and asking the
      // kernel for it (getsockname) cost 3% of a relay's CPU under crawler load.
      request.accept({
        remoteAddress: answered.address,
        remotePort: answered.port,
        localAddress: this.init.egressAddress ?? '',
        localPort: 0,
      });
      this.metrics.tunnels.inc({ result: 'ok' });
      this.controls.countTunnel();
      this.meter.track(gateway, tunnel);
      const toTarget = this.controls.meter('to_target');
      const fromTarget = this.controls.meter('from_target');
      this.openTunnels.add(tunnel);
      this.tunnelsCarried++;
      const result = await bridge(socket, tunnel, { fromSocket: fromTarget, toSocket: toTarget });
      this.openTunnels.delete(tunnel);
      this.metrics.bytes.inc({ direction: 'to_target' }, toTarget.bytes);
      this.metrics.bytes.inc({ direction: 'from_target' }, fromTarget.bytes);
      this.log.debug(
        { tunnel: tunnel.id, gateway, clean: result.clean, up: toTarget.bytes, down: fromTarget.bytes, ...logTarget },
        'tunnel closed',
      );
    } catch (err) {
      tunnel.removeListener('close', onEarlyClose);
      const error = isMeadowError(err)
        ? err
        : new MeadowError('MEADOW_ERR_INTERNAL', (err as Error).message, { cause: err });
      if (error.code === 'MEADOW_ERR_TARGET_FORBIDDEN') this.metrics.refusals.inc({ reason: 'egress_policy' });
      else if (error.code === 'MEADOW_ERR_RELAY_DECLINED') this.metrics.refusals.inc({ reason: 'household_domain' });
      if (!connected && !tunnel.destroyed) this.quality.record({ ok: false, code: error.code });
      this.log.info({ tunnel: tunnel.id, code: error.code, ...logTarget }, 'tunnel refused');
      this.refuse(request, error);
    } finally {
      this.activeTunnels--;
      this.metrics.activeTunnels.dec();
    }
  }

  private refuse(request: OpenRequest, error: MeadowError): void {
    this.metrics.tunnels.inc({ result: error.code });
    request.reject(error.code, error.message);
  }
}

function carriedBytes(counts: { bytesToTarget: number; bytesFromTarget: number }): number {
  return counts.bytesToTarget + counts.bytesFromTarget;
}

/** A copy of `items` in random order (Fisher–Yates). */
function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
