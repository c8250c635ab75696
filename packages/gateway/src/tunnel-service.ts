import type { Socket } from 'node:net';
import {
  type ByteBudget,
  formatBytes,
  formatHostPort,
  LiveCounter,
  type LiveCounts,
  MeadowError,
  type Target,
  type Tunnel,
} from '@meadow/protocol';
import type { Logger } from 'pino';
import { ChannelBytes } from './channel-bytes.ts';
import type { Connector, SessionOutcome } from './connector.ts';
import type { CustomerBook } from './customer-book.ts';
import type { CustomerUsage } from './customer-store.ts';
import { AuthThrottle, authenticate, type Customer, type Principal, VerifiedCredentials } from './customers.ts';
import type { MeteringGuard } from './metering-guard.ts';
import type { GatewayMetrics } from './metrics.ts';
import { asMeadowError } from './proxy-errors.ts';
import { RECENT_FAILURES, RecentFailures, type TunnelFailure } from './recent-failures.ts';
import { countryOf } from './relay-pool.ts';

export const CLIENT_PROTOCOLS = ['socks5', 'http-connect', 'http-forward'] as const;
export type ClientProtocol = (typeof CLIENT_PROTOCOLS)[number];

/** Where a tunnel leaves the network, as the crawler is told (`exit-headers.ts`). */
export interface TunnelExit {
  /** The relay's peer id. */
  relay: string;
  /** The country the gateway pools the relay under. */
  country: string;
  /** What the tunnel did to its session, when the request named one. */
  session?: SessionOutcome;
}

/** `GET /account` on the HTTP proxy port, for the customer whose key it is. */
export interface CustomerAccount {
  customer: string;
  plan: {
    quotaBytes: number | null;
    maxTunnels: number;
    priceMicrosPerGb: number | null;
    /** Networks the key may be used from; null = anywhere. */
    allowedClients: string[] | null;
  };
  /** Closed tunnels, all time (both directions counted for the quota). */
  usage: CustomerUsage & { quotaRemainingBytes: number | null };
  openTunnels: number;
  /** Tunnels that did not open, by error code, since this gateway process started. */
  failuresSinceStart: Record<string, number>;
  /** The last 20 failures, newest first: at every gateway sharing the customer store, or at this one. */
  recentFailures: TunnelFailure[];
  /** Where `recentFailures` come from. */
  recentFailuresFrom: 'every gateway' | 'this gateway' | 'this gateway: the shared customer store did not answer';
  /** The peer id of the gateway that answered, as each failure names the gateway it happened at. */
  gateway?: string;
}

export interface OpenTunnel {
  tunnel: Tunnel;
  exit: TunnelExit;
}

export interface Credentials {
  username: string;
  password: string;
}

/**
 * What both proxy front ends call: authenticate, enforce the customer's plan (concurrency and
 * byte quota), open a tunnel through a relay, and meter it. Bytes are counted by the tunnel
 * itself (one place); the quota is a budget the tunnel consults, so the cut is exact.
 */
export class TunnelService {
  /** Payload bytes per relay and per customer, live (receipts and revenue are made from these). */
  readonly relayBytes = new LiveCounter('gateway');
  readonly customerBytes = new LiveCounter('gateway');
  /** Payload bytes per relay and customer, live (an epoch's revenue is made from these). */
  readonly channelBytes = new ChannelBytes();
  readonly store: CustomerBook;
  private readonly connector: Connector;
  private readonly metrics: GatewayMetrics;
  private readonly log: Logger;
  private readonly throttle = new AuthThrottle();
  private readonly verified = new VerifiedCredentials();
  private readonly activeByCustomer = new Map<string, number>();
  private readonly quotaUsed = new Map<string, number>();
  private active = 0;

  private readonly guard: MeteringGuard;
  private readonly openTunnels = new Set<Tunnel>();
  private readonly failures = new RecentFailures();
  /** This gateway's peer id, once its libp2p node runs: failures name it. */
  gatewayId: string | undefined;

  constructor(deps: {
    store: CustomerBook;
    connector: Connector;
    metrics: GatewayMetrics;
    logger: Logger;
    guard: MeteringGuard;
  }) {
    this.store = deps.store;
    // Several gateways sharing customers: bytes the others booked count against the quota here too.
    this.store.onForeignUsage = (name, bytes) => {
      const used = this.quotaUsed.get(name);
      if (used != null) this.quotaUsed.set(name, used + bytes);
    };
    this.connector = deps.connector;
    this.metrics = deps.metrics;
    this.log = deps.logger;
    this.guard = deps.guard;
    // Traffic that cannot be recorded is not carried: open tunnels end with the reason.
    this.guard.on('unavailable', (err) => {
      for (const tunnel of this.openTunnels) tunnel.destroy(err);
    });
  }

  get activeTunnels(): number {
    return this.active;
  }

  activeFor(customer: string): number {
    return this.activeByCustomer.get(customer) ?? 0;
  }

  authenticate(credentials: Credentials, protocol: ClientProtocol, client: Socket): Principal {
    // The peer address costs a system call per client: looked up only while the throttle needs it.
    if (this.throttle.watching()) this.throttle.check(client.remoteAddress ?? 'unknown');
    const known = this.verified.get(credentials.username, credentials.password);
    if (known != null) return this.fromAllowedClient(known, protocol, client);
    let principal: Principal;
    try {
      principal = authenticate(this.store, credentials.username, credentials.password);
      this.verified.remember(credentials.username, credentials.password, principal);
    } catch (err) {
      const code = (err as MeadowError).code;
      if (code === 'MEADOW_ERR_AUTH_REQUIRED') {
        this.metrics.authFailures.inc({ protocol });
        this.throttle.fail(client.remoteAddress ?? 'unknown');
      } else if (code === 'MEADOW_ERR_BAD_USERNAME') {
        // The key was right (usernames are parsed after it is checked): the customer may see why.
        const customer = this.store.find(credentials.username.split('-')[0] ?? '');
        if (customer != null) this.noteFailure(customer.name, protocol, err as MeadowError);
      }
      throw err;
    }
    return this.fromAllowedClient(principal, protocol, client);
  }

  /** A key used from outside its customer's allowed networks fails as a wrong key does. */
  private fromAllowedClient(principal: Principal, protocol: ClientProtocol, client: Socket): Principal {
    const clients = principal.customer.clients;
    if (clients == null) return principal;
    const address = client.remoteAddress;
    if (clients.allows(address)) return principal;
    const err = new MeadowError(
      'MEADOW_ERR_AUTH_REQUIRED',
      `the API key of "${principal.customer.name}" may not be used from ${address ?? 'an unknown address'}: the customer allows other networks only`,
    );
    this.metrics.authFailures.inc({ protocol });
    this.throttle.fail(address ?? 'unknown');
    // The customer sees it on /account from an allowed address: a sign that the key has leaked.
    this.noteFailure(principal.customer.name, protocol, err);
    throw err;
  }

  /** Opens a tunnel for `who`: credentials to check, or a principal the front end already checked. */
  async open(
    protocol: ClientProtocol,
    who: Credentials | Principal,
    target: Target,
    client: Socket,
  ): Promise<OpenTunnel> {
    const { customer, params } = 'customer' in who ? who : this.authenticate(who, protocol, client);
    const started = performance.now();
    const deadline = this.connector.deadline();
    const onClientGone = (): void => deadline.abort(new MeadowError('MEADOW_ERR_INTERNAL', 'client went away'));
    client.once('close', onClientGone);
    let counted = false;
    try {
      const refusal = this.guard.refusal();
      if (refusal != null) throw refusal;
      const running = this.activeFor(customer.name);
      if (running >= customer.maxTunnels) {
        throw new MeadowError(
          'MEADOW_ERR_CONCURRENCY_LIMIT',
          `${running} tunnels open: the plan allows ${customer.maxTunnels} at once`,
        );
      }
      const budget = this.budgetFor(customer);
      if (budget != null && this.remaining(customer) <= 0) throw budget.exhausted();
      this.activeByCustomer.set(customer.name, running + 1);
      counted = true;
      const { tunnel, relay, session } = await this.connector.open(customer.name, params, target, deadline);
      tunnel.budget = budget;
      this.metrics.setupSeconds.observe({ protocol }, (performance.now() - started) / 1000);
      this.metrics.tunnels.inc({ protocol, result: 'ok' });
      this.metrics.activeTunnels.inc({ protocol });
      this.active++;
      this.relayBytes.track(relay.peerId, tunnel);
      this.customerBytes.track(customer.name, tunnel);
      this.channelBytes.track(relay.peerId, customer.name, tunnel);
      this.openTunnels.add(tunnel);
      // Until the front end bridges it, a link drop must not surface as an unhandled 'error' event;
      // the bridge sees the same failure through its own listeners and the tunnel's state.
      tunnel.on('error', () => {});
      tunnel.once('close', () => {
        this.openTunnels.delete(tunnel);
        this.active--;
        this.release(customer.name);
        this.metrics.activeTunnels.dec({ protocol });
        this.metrics.bytes.inc({ direction: 'to_target' }, tunnel.bytesSent);
        this.metrics.bytes.inc({ direction: 'from_target' }, tunnel.bytesReceived);
        this.store.recordUsage(customer.name, {
          tunnels: 1,
          bytesToTarget: tunnel.bytesSent,
          bytesFromTarget: tunnel.bytesReceived,
        });
      });
      counted = false;
      this.log.debug({ customer: customer.name, relay: relay.peerId, tunnel: tunnel.id, protocol }, 'tunnel open');
      return { tunnel, exit: { relay: relay.peerId, country: countryOf(relay), session } };
    } catch (err) {
      const error = asMeadowError(err);
      this.metrics.tunnels.inc({ protocol, result: error.code });
      this.noteFailure(customer.name, protocol, error, formatHostPort(target.host, target.port));
      throw err;
    } finally {
      deadline.clear();
      if (counted) this.release(customer.name);
      client.removeListener('close', onClientGone);
    }
  }

  private noteFailure(customer: string, protocol: ClientProtocol, err: MeadowError, target?: string): void {
    const failure = this.failures.add(customer, protocol, err, target, this.gatewayId);
    this.store.recordFailure?.(customer, failure);
  }

  /** What a customer may see of its own account: plan, usage, open tunnels, why tunnels failed. */
  async account(name: string): Promise<CustomerAccount | undefined> {
    const row = this.store.find(name);
    if (row == null) return undefined;
    let recentFailures = this.failures.of(row.name);
    let recentFailuresFrom: CustomerAccount['recentFailuresFrom'] = 'this gateway';
    if (this.store.recentFailures != null) {
      try {
        recentFailures = await this.store.recentFailures(row.name, RECENT_FAILURES);
        recentFailuresFrom = 'every gateway';
      } catch (err) {
        this.log.warn(
          { err: (err as Error).message },
          "could not read customers' recent failures from the shared store",
        );
        recentFailuresFrom = 'this gateway: the shared customer store did not answer';
      }
    }
    const usage = this.store.usage(row.name);
    const quotaBytes = row.quotaBytes ?? null;
    return {
      ...(this.gatewayId == null ? {} : { gateway: this.gatewayId }),
      customer: row.name,
      plan: {
        quotaBytes,
        maxTunnels: row.maxTunnels ?? 256,
        priceMicrosPerGb: row.priceMicrosPerGb ?? null,
        allowedClients: row.allowedClients ?? null,
      },
      usage: {
        ...usage,
        quotaRemainingBytes: quotaBytes == null ? null : Math.max(0, quotaBytes - this.used(row.name)),
      },
      openTunnels: this.activeFor(row.name),
      failuresSinceStart: this.failures.countsOf(row.name),
      recentFailures,
      recentFailuresFrom,
    };
  }

  /** What this process has carried, per customer and per relay (the admin API's /usage). */
  usage(): { customers: Record<string, LiveCounts>; relays: Record<string, LiveCounts> } {
    const of = (counter: LiveCounter) => Object.fromEntries(counter.keys().map((k) => [k, counter.sinceStart(k)]));
    return { customers: of(this.customerBytes), relays: of(this.relayBytes) };
  }

  private release(customer: string): void {
    const n = (this.activeByCustomer.get(customer) ?? 1) - 1;
    if (n <= 0) this.activeByCustomer.delete(customer);
    else this.activeByCustomer.set(customer, n);
  }

  private remaining(customer: Customer): number {
    if (customer.quotaBytes == null) return Number.POSITIVE_INFINITY;
    return customer.quotaBytes - this.used(customer.name);
  }

  private used(name: string): number {
    let used = this.quotaUsed.get(name);
    if (used == null) {
      const stored = this.store.usage(name);
      used = stored.bytesToTarget + stored.bytesFromTarget;
      this.quotaUsed.set(name, used);
    }
    return used;
  }

  /** A budget shared by all of a customer's tunnels: bytes are booked as they move. */
  private budgetFor(customer: Customer): ByteBudget | undefined {
    if (customer.quotaBytes == null) return undefined;
    const quota = customer.quotaBytes;
    return {
      take: (bytes) => {
        const used = this.used(customer.name);
        const allowed = Math.max(0, Math.min(bytes, quota - used));
        this.quotaUsed.set(customer.name, used + allowed);
        return allowed;
      },
      exhausted: () => new MeadowError('MEADOW_ERR_QUOTA_EXHAUSTED', quotaUsedUp(quota)),
    };
  }
}

function quotaUsedUp(quotaBytes: number): string {
  return `the quota of ${formatBytes(quotaBytes)} (${quotaBytes} bytes, both directions) is used up`;
}
