/**
 * One-shot timers a long-running service owns: each removes itself when it fires, so a service
 * that re-arms a task every second holds a handful of handles, not one per run; `clear` at stop.
 */
export class TimerSet {
  private readonly timers = new Set<NodeJS.Timeout>();

  get size(): number {
    return this.timers.size;
  }

  arm(delayMs: number, task: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      task();
    }, delayMs);
    this.timers.add(timer);
  }

  /** Keeps a timer made elsewhere (an interval) so `clear` stops it too. */
  keep(timer: NodeJS.Timeout): void {
    this.timers.add(timer);
  }

  clear(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
