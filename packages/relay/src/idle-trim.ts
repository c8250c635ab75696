/**
 * Gives memory back to the household's machine while the relay carries nothing.
 *
 * V8 starts a major garbage collection only when the old generation reaches its limit, so the
 * garbage of start-up (and of the last burst of traffic) keeps its pages mapped in a relay that is
 * then idle: 135 MiB resident, 113 MiB after one thorough GC; the background work of an idle relay
 * (DHT refresh, pings, scrapes) then adds ~2 MiB of garbage a minute. So: one collection once the
 * relay has been quiet for `quietMs`, and another every `repeatMs` while it stays quiet; never
 * while anything is being carried. One collection of this ~25 MiB heap takes a few tens of ms.
 */
export class IdleTrim {
  private readonly quietMs: number;
  private readonly repeatMs: number;
  private readonly collect: (() => void) | undefined;
  private lastBusyAt: number;
  private lastTrimAt: number | undefined;

  /** `collect` is undefined when the process cannot ask for a GC (started without --expose-gc). */
  constructor(options: { quietMs: number; repeatMs: number }, collect: (() => void) | undefined, now = Date.now()) {
    this.quietMs = options.quietMs;
    this.repeatMs = options.repeatMs;
    this.collect = collect;
    this.lastBusyAt = now;
  }

  /** Called periodically with whether anything was carried since the last call; true if it collected. */
  tick(busy: boolean, now = Date.now()): boolean {
    if (busy) {
      this.lastBusyAt = now;
      this.lastTrimAt = undefined;
      return false;
    }
    if (this.collect == null || now - this.lastBusyAt < this.quietMs) return false;
    if (this.lastTrimAt != null && now - this.lastTrimAt < this.repeatMs) return false;
    this.lastTrimAt = now;
    this.collect();
    return true;
  }
}

interface GcOptions {
  type: 'major';
  execution: 'sync';
  flavor: 'last-resort';
}

/**
 * V8's most thorough collection, when the process was started with --expose-gc (as services are).
 * 'last-resort' also returns the freed pages to the system at once: after a regular major GC right
 * after start-up V8 kept them pooled and the relay stayed at 135 MiB.
 */
export function exposedMajorGc(): (() => void) | undefined {
  const gc = (globalThis as { gc?: (options?: GcOptions) => void }).gc;
  return gc == null ? undefined : () => gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}
