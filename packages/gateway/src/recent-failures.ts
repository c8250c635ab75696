import type { MeadowError } from '@meadow/protocol';

/** One tunnel a customer asked for that did not open, as the customer may see it (`GET /account`). */
export interface TunnelFailure {
  at: string;
  protocol: string;
  /** `host:port` as the customer asked for it; absent when the request failed before naming one. */
  target?: string;
  code: string;
  hop: string;
  message: string;
  /** The peer id of the gateway the request reached: gateways sharing a customer store share this list. */
  gateway?: string;
}

/** How many failures `/account` lists per customer. */
export const RECENT_FAILURES = 20;
const MAX_MESSAGE = 300;
/** A host name (253) and a port. */
const MAX_TARGET = 262;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * The last failures per customer, and counts by error code since the gateway started. A SOCKS5
 * reply carries one byte of reason (and a bad username looks like a wrong key), so this is where a
 * SOCKS5 crawler learns what went wrong. Bounded: `perCustomer` entries of bounded length for each
 * customer in the customer store.
 */
export class RecentFailures {
  private readonly perCustomer: number;
  private readonly recent = new Map<string, TunnelFailure[]>();
  private readonly counts = new Map<string, Map<string, number>>();

  constructor(perCustomer = RECENT_FAILURES) {
    this.perCustomer = perCustomer;
  }

  /** Keeps the failure, and returns it as listed. */
  add(
    customer: string,
    protocol: string,
    err: MeadowError,
    target?: string,
    gateway?: string,
    now = new Date(),
  ): TunnelFailure {
    let list = this.recent.get(customer);
    if (list == null) {
      list = [];
      this.recent.set(customer, list);
    }
    const failure: TunnelFailure = {
      at: now.toISOString(),
      protocol,
      ...(target == null ? {} : { target: clip(target, MAX_TARGET) }),
      code: err.code,
      hop: err.hop,
      // A relay writes its own refusals' text: kept short, so no relay can grow this list's memory.
      message: clip(err.message, MAX_MESSAGE),
      ...(gateway == null ? {} : { gateway }),
    };
    list.push(failure);
    if (list.length > this.perCustomer) list.shift();
    let counts = this.counts.get(customer);
    if (counts == null) {
      counts = new Map();
      this.counts.set(customer, counts);
    }
    counts.set(err.code, (counts.get(err.code) ?? 0) + 1);
    return failure;
  }

  /** Newest first. */
  of(customer: string): TunnelFailure[] {
    return [...(this.recent.get(customer) ?? [])].reverse();
  }

  countsOf(customer: string): Record<string, number> {
    return Object.fromEntries(this.counts.get(customer) ?? []);
  }
}
