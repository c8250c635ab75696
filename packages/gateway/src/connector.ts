import { setTimeout as sleep } from 'node:timers/promises';
import { Deadline, isMeadowError, MeadowError, type Target, type Tunnel } from '@meadow/protocol';
import type { Logger } from 'pino';
import type { GatewayMetrics, SESSION_STORE_OPERATIONS } from './metrics.ts';
import { countryOf, type PooledRelay, type RelayPool } from './relay-pool.ts';
import type { SessionBook } from './sessions.ts';
import type { UsernameParams } from './username.ts';

type SessionStoreOperation = (typeof SESSION_STORE_OPERATIONS)[number];

/** What a session's tunnel did to its binding: the `outcome` of `meadow_gateway_session_tunnels_total`. */
export type SessionOutcome = 'bound' | 'kept' | 'kept_after_wait' | 'moved' | 'elsewhere';

export interface OpenedTunnel {
  tunnel: Tunnel;
  relay: PooledRelay;
  /** Set when the request named a session. */
  session?: SessionOutcome;
}

export interface ConnectorInit {
  connectTimeoutMs: number;
  maxAttempts: number;
  /**
   * For this long after the gateway starts, a request whose sticky session is bound to a relay that
   * has not linked again yet waits for it (at most half the connect deadline), so a gateway restart
   * does not move sessions whose relay survived.
   */
  sessionGraceMs?: number;
}

/** Waits for a slot on a session's relay that is at its tunnel limit: 50, 100, 200 and 400 ms. */
const STICKY_BUSY_WAITS = 4;
const STICKY_BUSY_WAIT_MS = 50;

/**
 * Opens a tunnel for a customer's request: honours country and sticky session, picks a relay by
 * quality, and retries on another relay when the failure is the relay's (never the target's),
 * all within one connect deadline.
 */
export class Connector {
  private readonly init: ConnectorInit;
  private readonly pool: RelayPool;
  private readonly sessions: SessionBook;
  private readonly metrics: GatewayMetrics;
  private readonly log: Logger;
  private readonly startedAt = Date.now();

  constructor(
    init: ConnectorInit,
    deps: { pool: RelayPool; sessions: SessionBook; metrics: GatewayMetrics; logger: Logger },
  ) {
    this.init = init;
    this.pool = deps.pool;
    this.sessions = deps.sessions;
    this.metrics = deps.metrics;
    this.log = deps.logger;
  }

  /** The connect deadline for one request: its owner aborts it if the client leaves, and clears it. */
  deadline(): Deadline {
    return new Deadline(this.init.connectTimeoutMs);
  }

  /** Opens the tunnel within `deadline` (from `deadline()`), which the caller clears afterwards. */
  async open(customer: string, params: UsernameParams, target: Target, deadline: Deadline): Promise<OpenedTunnel> {
    const signal = deadline.signal;
    const exclude = new Set<string>();
    let lastError: MeadowError | undefined;
    const session = params.session;
    const ttlMs = params.sessionTtlMinutes * 60_000;

    let sticky: PooledRelay | undefined;
    const bound = session == null ? undefined : await this.lookup(customer, session);
    let wasBound = bound != null;
    if (bound != null) {
      await this.awaitReturningRelay(bound, target.port, signal);
      sticky = this.usableRelay(bound, params.country, target.port, exclude);
      if (sticky == null && params.strict) {
        this.metrics.sessions.inc({ outcome: 'refused' });
        const there = this.pool.get(bound);
        const where =
          there != null && params.country != null && countryOf(there) !== params.country
            ? `is in ${countryOf(there)}, not ${params.country}`
            : 'is gone';
        throw new MeadowError('MEADOW_ERR_NO_RELAY', `the relay of session "${session}" ${where} (strict session)`);
      }
    }

    // A session's relay that is only full keeps the session: the request waits a little for a slot
    // on it, and if it must go elsewhere after all, the session stays bound to its relay.
    let stickyBusy = false;
    let busyWaits = 0;
    /** The relay this request bound the session to before its tunnel was up. */
    let claimed: PooledRelay | undefined;
    let next = sticky;
    for (let attempt = 0; attempt < this.init.maxAttempts; attempt++) {
      let relay = next;
      next = undefined;
      /** The session's relay as this request found it unusable (gone, another country, failed here). */
      let replacing: string | undefined;
      if (relay == null && session != null && !stickyBusy) {
        // Another request of the session (at this gateway or another) may have bound it since this
        // one started, or since this one's relay failed: this one goes there too.
        const current = attempt === 0 ? bound : await this.lookup(customer, session);
        const joined = current == null ? undefined : this.usableRelay(current, params.country, target.port, exclude);
        if (joined != null) {
          relay = sticky = joined;
          wasBound = true;
        } else replacing = current;
      }
      relay ??= this.pool.choose({ country: params.country, port: target.port, exclude });
      if (relay == null) break;
      if (session != null && relay !== sticky && !stickyBusy) {
        // The session's first request (or the one that moves it) binds it now, before its tunnel
        // is up. Requests of the session that arrive meanwhile then join this relay; when each
        // chose its own, eight concurrent first requests left from up to three exits, and the
        // last to finish decided the binding. A request that lost the race joins the winner.
        const claim = await this.bindSession(customer, session, relay.peerId, ttlMs, replacing);
        if (claim.made) claimed = relay;
        else {
          wasBound = true;
          const joined = this.usableRelay(claim.relay, params.country, target.port, exclude);
          if (joined != null) relay = sticky = joined;
          // Bound to a relay this gateway cannot use: this request only leaves from another.
          else stickyBusy = true;
        }
      }
      if (attempt > 0) this.metrics.retries.inc();
      const started = performance.now();
      try {
        const tunnel = await relay.mux.open(target, { signal });
        relay.record(true, performance.now() - started);
        if (session == null) return { tunnel, relay };
        const outcome = sessionOutcome(wasBound, relay === sticky, busyWaits > 0, stickyBusy);
        this.metrics.sessions.inc({ outcome });
        return { tunnel, relay, session: outcome };
      } catch (err) {
        const error = toMeadowError(err, deadline.expired);
        if (!error.wire.retryable) {
          // The target's failure, not the relay's: a binding this request made stands.
          relay.record(true, performance.now() - started);
          throw error;
        }
        if (relay === sticky && error.code === 'MEADOW_ERR_RELAY_BUSY') {
          if (busyWaits < STICKY_BUSY_WAITS && (await pause(STICKY_BUSY_WAIT_MS << busyWaits, signal))) {
            busyWaits++;
            next = sticky;
            attempt--; // the same relay again: a wait, not another relay tried
            continue;
          }
          stickyBusy = true;
        }
        const declined = error.code === 'MEADOW_ERR_RELAY_DECLINED';
        if (declined && relay === sticky) {
          // The household declines this one site: the session keeps its relay for every other, and a
          // strict session, which may leave from nowhere else, hears why.
          if (params.strict) {
            this.metrics.sessions.inc({ outcome: 'refused' });
            throw error;
          }
          stickyBusy = true;
        }
        // A household's choice of sites says nothing about how well its relay works.
        if (!declined) relay.record(false);
        if (claimed === relay && session != null) {
          await this.releaseSession(customer, session, relay.peerId);
          claimed = undefined;
        }
        this.log.info(
          { relay: relay.peerId, code: error.code, attempt },
          'relay failed before the tunnel was up; trying another',
        );
        lastError = error;
        exclude.add(relay.peerId);
        if (signal.aborted) break;
        if (sticky === relay && params.strict) {
          this.metrics.sessions.inc({ outcome: 'refused' });
          throw new MeadowError(
            'MEADOW_ERR_NO_RELAY',
            `the relay of session "${session}" ${stickyBusy ? 'stayed at its tunnel limit' : 'failed'} (strict session)`,
            { cause: error },
          );
        }
      }
    }
    if (lastError != null) throw lastError;
    const none = this.pool.whyNone({ country: params.country, port: target.port, exclude });
    // Refused by every relay's exit policy: a 403, since trying again later would meet the same.
    throw new MeadowError(none.onlyPort ? 'MEADOW_ERR_TARGET_FORBIDDEN' : 'MEADOW_ERR_NO_RELAY', none.message);
  }

  private lookup(customer: string, session: string): Promise<string | undefined> {
    return this.sessionStoreCall('lookup', () => this.sessions.get(customer, session));
  }

  private bindSession(customer: string, session: string, relay: string, ttlMs: number, replacing?: string) {
    return this.sessionStoreCall('claim', () => this.sessions.claim(customer, session, relay, ttlMs, replacing));
  }

  private releaseSession(customer: string, session: string, relay: string): Promise<void> {
    return this.sessionStoreCall('release', () => this.sessions.release(customer, session, relay));
  }

  /**
   * A session store that cannot answer (a shared one whose database is down) refuses the request
   * as a usage store that cannot write does: 503. A shared store's operations are timed; the
   * in-memory one's take microseconds and are not.
   */
  private async sessionStoreCall<T>(operation: SessionStoreOperation, call: () => T | Promise<T>): Promise<T> {
    const shared = this.sessions.kind === 'postgres';
    const started = shared ? performance.now() : 0;
    try {
      const result = await call();
      if (shared) this.metrics.sessionStore.seconds.observe({ operation }, (performance.now() - started) / 1000);
      return result;
    } catch (err) {
      this.metrics.sessionStore.failures.inc({ operation });
      throw new MeadowError(
        'MEADOW_ERR_METERING_UNAVAILABLE',
        `sticky sessions unavailable: the session store did not answer (${(err as Error).message})`,
        { cause: err },
      );
    }
  }

  /**
   * A session's relay, if this request can use it: linked, routable for the port, not failed for
   * this request already, and in the requested country (a session named again with another country
   * moves to that country rather than leave from the wrong one).
   */
  private usableRelay(
    peerId: string,
    country: string | undefined,
    port: number,
    exclude: ReadonlySet<string>,
  ): PooledRelay | undefined {
    if (exclude.has(peerId)) return undefined;
    const relay = this.pool.get(peerId);
    if (relay == null || !this.pool.isRoutable(relay, port)) return undefined;
    return country == null || countryOf(relay) === country ? relay : undefined;
  }

  /** While the gateway is young, waits for a session's relay that may still be re-linking. */
  private async awaitReturningRelay(peerId: string, port: number, signal: AbortSignal): Promise<void> {
    const graceEnds = this.startedAt + (this.init.sessionGraceMs ?? 0);
    const waitUntil = Math.min(graceEnds, Date.now() + this.init.connectTimeoutMs / 2);
    while (Date.now() < waitUntil && !signal.aborted) {
      const relay = this.pool.get(peerId);
      if (relay != null && this.pool.isRoutable(relay, port)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function sessionOutcome(
  wasBound: boolean,
  onItsRelay: boolean,
  waited: boolean,
  itsRelayFull: boolean,
): SessionOutcome {
  if (!wasBound) return 'bound';
  if (onItsRelay) return waited ? 'kept_after_wait' : 'kept';
  return itsRelayFull ? 'elsewhere' : 'moved';
}

/** Waits `ms`; false if the signal aborted first. */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

function toMeadowError(err: unknown, deadlinePassed: boolean): MeadowError {
  if (isMeadowError(err)) return err;
  if (deadlinePassed)
    return new MeadowError('MEADOW_ERR_RELAY_TIMEOUT', 'relay did not answer before the connect deadline', {
      hop: 'relay',
    });
  return new MeadowError('MEADOW_ERR_RELAY_LOST', (err as Error).message, { hop: 'relay', cause: err });
}
