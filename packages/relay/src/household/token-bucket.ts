/**
 * A token bucket shared by every tunnel of one direction: `rateBytesPerSecond` sustained, up to
 * `burstBytes` at once. Waiters are served in arrival order, so one busy tunnel cannot starve others.
 */
export class TokenBucket {
  readonly rateBytesPerSecond: number;
  readonly burstBytes: number;
  private tokens: number;
  private last: number;
  private readonly waiters: Array<{ bytes: number; resolve: () => void; reject: (err: Error) => void }> = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  /** Times a caller had to wait, and the total wait: exported as metrics. */
  waits = 0;
  waitedMs = 0;

  constructor(rateBytesPerSecond: number, burstBytes: number, now: () => number = () => performance.now()) {
    if (rateBytesPerSecond <= 0 || burstBytes <= 0) throw new RangeError('rate and burst must be positive');
    this.rateBytesPerSecond = rateBytesPerSecond;
    this.burstBytes = burstBytes;
    this.tokens = burstBytes;
    this.now = now;
    this.last = now();
  }

  /** Resolves once `bytes` (at most the burst) may pass. */
  take(bytes: number): Promise<void> {
    const want = Math.min(bytes, this.burstBytes);
    this.refill();
    if (this.waiters.length === 0 && this.tokens >= want) {
      this.tokens -= want;
      return Promise.resolve();
    }
    this.waits++;
    const started = this.now();
    return new Promise((resolve, reject) => {
      this.waiters.push({
        bytes: want,
        resolve: () => {
          this.waitedMs += this.now() - started;
          resolve();
        },
        reject,
      });
      this.schedule();
    });
  }

  /** Fails every waiter (the relay is stopping or hibernating). */
  cancelAll(err: Error): void {
    if (this.timer != null) clearTimeout(this.timer);
    this.timer = undefined;
    for (const waiter of this.waiters.splice(0)) waiter.reject(err);
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burstBytes, this.tokens + ((now - this.last) * this.rateBytesPerSecond) / 1000);
    this.last = now;
  }

  private schedule(): void {
    if (this.timer != null) return;
    const head = this.waiters[0];
    if (head == null) return;
    const deficit = head.bytes - this.tokens;
    const delayMs = Math.max(1, Math.ceil((deficit * 1000) / this.rateBytesPerSecond));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refill();
      while (this.waiters.length > 0 && this.tokens >= (this.waiters[0]?.bytes ?? 0)) {
        const waiter = this.waiters.shift() as { bytes: number; resolve: () => void };
        this.tokens -= waiter.bytes;
        waiter.resolve();
      }
      this.schedule();
    }, delayMs);
  }
}
