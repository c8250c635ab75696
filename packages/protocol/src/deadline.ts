/**
 * An abort signal that fires after `ms`, or when its owner calls `abort`, and whose timer `clear()`
 * removes once the work is done. `AbortSignal.timeout` cannot be cleared, so on a proxy's hot path
 * every request would leave a live timer and signal behind until its timeout passed.
 */
export class Deadline {
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private passed = false;

  constructor(ms: number) {
    this.signal = this.controller.signal;
    this.timer = setTimeout(() => {
      this.passed = true;
      this.controller.abort(new DOMException(`deadline of ${ms} ms passed`, 'TimeoutError'));
    }, ms);
  }

  /** Ends the wait early for `reason` (the client went away): the signal aborts, `expired` stays false. */
  abort(reason: unknown): void {
    this.controller.abort(reason);
  }

  /** True once the deadline itself fired (not an early abort). */
  get expired(): boolean {
    return this.passed;
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}
