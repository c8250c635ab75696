import type { LinkPacer } from '@meadow/protocol';

/**
 * The pace of everything a relay sends to its gateways, which all crosses the household's one
 * line: unpaced until yielding sets a ceiling (`household/yield.ts`), then a token bucket at that
 * rate with a burst of 20 ms of it, so that the modem's queue never holds much of the relay's.
 * It counts what was sent either way: the yield rounds compare the ceiling with it.
 */
export class LinePacer implements LinkPacer {
  /** Payload bytes sent to gateways since start. */
  sent = 0;
  private rate: number | undefined;
  private burst = 0;
  private tokens = 0;
  private last = performance.now();

  /** The ceiling in force (bytes/s), or undefined when nothing is paced. */
  get ceiling(): number | undefined {
    return this.rate;
  }

  setCeiling(bytesPerSecond: number | undefined): void {
    this.refill();
    this.rate = bytesPerSecond;
    this.burst = bytesPerSecond == null ? 0 : Math.max(MIN_BURST_BYTES, bytesPerSecond / 50);
    this.tokens = Math.min(this.tokens, this.burst);
  }

  allowance(): number {
    if (this.rate == null) return Number.POSITIVE_INFINITY;
    this.refill();
    // Nothing until a quarter of the burst is there: a trickle of tiny frames would cost the line
    // more in headers (yamux, Noise, TCP) than it carried.
    return this.tokens >= this.burst / 4 ? Math.floor(this.tokens) : 0;
  }

  spend(bytes: number): void {
    this.sent += bytes;
    if (this.rate != null) this.tokens -= bytes;
  }

  waitMs(): number {
    if (this.rate == null) return 0;
    // Wait for a useful amount (a quarter of the burst), not for each byte.
    const want = this.burst / 4 - this.tokens;
    return Math.max(1, Math.ceil((want * 1000) / this.rate));
  }

  private refill(): void {
    const now = performance.now();
    if (this.rate != null) this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
  }
}

/** A burst never smaller than this (16 KiB), so that a slow ceiling still sends whole frames. */
const MIN_BURST_BYTES = 16 * 1024;
