import { setTimeout as sleep } from 'node:timers/promises';
import { Deadline, isMeadowError, MeadowError, type Target, type Tunnel } from '@meadow/protocol';
import type { Logger } from 'pino';
import type { GatewayMetrics } from './metrics.ts';
import type { PooledRelay, RelayPool } from './relay-pool.ts';
import type { StickySessions } from './sessions.ts';
import type { UsernameParams } from './username.ts';

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
  private readonly sessions: StickySessions;
  private readonly metrics: GatewayMetrics;
  private readonly log: Logger;
  private readonly startedAt = Date.now();

  constructor(
    init: ConnectorInit,
    deps: { pool: RelayPool; sessions: StickySessions; metrics: GatewayMetrics; logger: Logger },
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

    let sticky: PooledRelay | undefined;
    const bound = params.session == null ? undefined : this.sessions.get(customer, params.session);
    if (bound != null) {
      await this.awaitReturningRelay(bound, target.port, signal);
      const relay = this.pool.get(bound);
      if (relay != null && this.pool.isRoutable(relay, target.port)) sticky = relay;
      else if (params.strict) {
        this.metrics.sessions.inc({ outcome: 'refused' });
        throw new MeadowError(
          'MEADOW_ERR_NO_RELAY',
          `the relay of session "${params.session}" is gone (strict session)`,
        );
      }
    }

    // A session's relay that is only full keeps the session: the request waits a little for a slot
    // on it, and if it must go elsewhere after all, the session stays bound to its relay.
    let stickyBusy = false;
    let busyWaits = 0;
    let next = sticky;
    for (let attempt = 0; attempt < this.init.maxAttempts; attempt++) {
      const relay = next ?? this.pool.choose({ country: params.country, port: target.port, exclude });
      next = undefined;
      if (relay == null) break;
      if (attempt > 0) this.metrics.retries.inc();
      const started = performance.now();
      try {
        const tunnel = await relay.mux.open(target, { signal });
        relay.record(true, performance.now() - started);
        if (params.session == null) return { tunnel, relay };
        const session = sessionOutcome(bound != null, relay === sticky, busyWaits > 0, stickyBusy);
        this.metrics.sessions.inc({ outcome: session });
        if (session !== 'elsewhere')
          this.sessions.bind(customer, params.session, relay.peerId, params.sessionTtlMinutes * 60_000);
        return { tunnel, relay, session };
      } catch (err) {
        const error = toMeadowError(err, deadline.expired);
        if (!error.wire.retryable) {
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
        relay.record(false);
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
            `the relay of session "${params.session}" ${stickyBusy ? 'stayed at its tunnel limit' : 'failed'} (strict session)`,
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
