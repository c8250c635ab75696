import type { Counts } from '@meadow/ledger';
import type { Tunnel } from '@meadow/protocol';

/** One relay's bytes for one customer: closed tunnels' totals (less what was settled) and the open tunnels. */
interface Channel {
  closed: Counts;
  open: Set<Tunnel>;
}

/**
 * Payload bytes per relay and, within each relay, per customer, live, counted from the relay's last
 * settled receipt. The receipt clerk notes a relay's split by customer with each receipt it
 * proposes, so an epoch bills the customers exactly for the bytes its relays co-signed, and hands
 * the split of each settled receipt back (`settle`): the counters then hold only what is not settled
 * yet, and a pair with nothing left and no open tunnel is forgotten, so a gateway that served many
 * customers through many relays keeps no entry per pair it ever saw.
 */
export class ChannelBytes {
  private readonly byRelay = new Map<string, Map<string, Channel>>();

  track(relay: string, customer: string, tunnel: Tunnel): void {
    let customers = this.byRelay.get(relay);
    if (customers == null) {
      customers = new Map();
      this.byRelay.set(relay, customers);
    }
    let channel = customers.get(customer);
    if (channel == null) {
      channel = { closed: { bytesToTarget: 0, bytesFromTarget: 0, tunnels: 0 }, open: new Set() };
      customers.set(customer, channel);
    }
    const { closed, open } = channel;
    closed.tunnels++;
    open.add(tunnel);
    tunnel.once('close', () => {
      closed.bytesToTarget += tunnel.bytesSent;
      closed.bytesFromTarget += tunnel.bytesReceived;
      open.delete(tunnel);
      this.forgetIfEmpty(relay, customer);
    });
  }

  relays(): string[] {
    return [...this.byRelay.keys()];
  }

  /** What each customer has moved through the relay and not yet had settled, as of now. */
  split(relay: string): Map<string, Counts> {
    const split = new Map<string, Counts>();
    for (const [customer, channel] of this.byRelay.get(relay) ?? []) split.set(customer, liveCounts(channel));
    return split;
  }

  /** What the relay has carried and not yet had settled, all customers together, as of now. */
  total(relay: string): Counts {
    const total = { bytesToTarget: 0, bytesFromTarget: 0, tunnels: 0 };
    for (const channel of this.byRelay.get(relay)?.values() ?? []) {
      const now = liveCounts(channel);
      total.bytesToTarget += now.bytesToTarget;
      total.bytesFromTarget += now.bytesFromTarget;
      total.tunnels += now.tunnels;
    }
    return total;
  }

  /**
   * Drops a relay's unsettled bytes (a relay gone for good: they will never be co-signed); false,
   * and nothing dropped, while a tunnel through it is open.
   */
  forget(relay: string): boolean {
    const customers = this.byRelay.get(relay);
    if (customers == null) return true;
    for (const { open } of customers.values()) if (open.size > 0) return false;
    this.byRelay.delete(relay);
    return true;
  }

  /** Takes a settled receipt's split (from `split`) off the relay's counters. */
  settle(relay: string, settled: ReadonlyMap<string, Counts>): void {
    const customers = this.byRelay.get(relay);
    if (customers == null) return;
    for (const [customer, counts] of settled) {
      const channel = customers.get(customer);
      if (channel == null) continue;
      // Bytes of a tunnel still open are in `settled` but not yet in `closed`: it may go below zero.
      channel.closed.bytesToTarget -= counts.bytesToTarget;
      channel.closed.bytesFromTarget -= counts.bytesFromTarget;
      channel.closed.tunnels -= counts.tunnels;
      this.forgetIfEmpty(relay, customer);
    }
  }

  private forgetIfEmpty(relay: string, customer: string): void {
    const customers = this.byRelay.get(relay);
    const channel = customers?.get(customer);
    if (customers == null || channel == null || channel.open.size > 0) return;
    const { closed } = channel;
    if (closed.bytesToTarget !== 0 || closed.bytesFromTarget !== 0 || closed.tunnels !== 0) return;
    customers.delete(customer);
    if (customers.size === 0) this.byRelay.delete(relay);
  }
}

/** A channel's closed totals plus its open tunnels' live counters. */
function liveCounts({ closed, open }: Channel): Counts {
  const now = { ...closed };
  for (const tunnel of open) {
    now.bytesToTarget += tunnel.bytesSent;
    now.bytesFromTarget += tunnel.bytesReceived;
  }
  return now;
}
