import { LiveCounter, type LiveCounts, type Tunnel } from '@meadow/protocol';

/**
 * Payload bytes per relay and, within each relay, per customer, live. The receipt clerk notes a
 * relay's split by customer with each receipt it proposes, so an epoch bills the customers exactly
 * for the bytes its relays co-signed.
 */
export class ChannelBytes {
  private readonly byRelay = new Map<string, LiveCounter>();

  track(relay: string, customer: string, tunnel: Tunnel): void {
    let counter = this.byRelay.get(relay);
    if (counter == null) {
      counter = new LiveCounter('gateway');
      this.byRelay.set(relay, counter);
    }
    counter.track(customer, tunnel);
  }

  relays(): string[] {
    return [...this.byRelay.keys()];
  }

  /** What each customer has moved through the relay since this process started, as of now. */
  split(relay: string): Map<string, LiveCounts> {
    const counter = this.byRelay.get(relay);
    return new Map(counter == null ? [] : counter.keys().map((customer) => [customer, counter.sinceStart(customer)]));
  }
}
