/** Sticky sessions: (customer, session id) → the relay that serves it until the TTL passes. */
export class StickySessions {
  private readonly entries = new Map<string, { relay: string; expiresAt: number }>();
  private readonly maxEntries: number;

  constructor(maxEntries = 1_000_000) {
    this.maxEntries = maxEntries;
  }

  get(customer: string, session: string, now = Date.now()): string | undefined {
    const key = `${customer}\0${session}`;
    const entry = this.entries.get(key);
    if (entry == null) return undefined;
    if (entry.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.relay;
  }

  /** Binds a session to a relay; the TTL counts from the first binding, as crawlers expect. */
  bind(customer: string, session: string, relay: string, ttlMs: number, now = Date.now()): void {
    const key = `${customer}\0${session}`;
    const existing = this.entries.get(key);
    if (existing != null && existing.relay === relay && existing.expiresAt > now) return;
    if (this.entries.size >= this.maxEntries) this.evictExpired(now);
    this.entries.set(key, { relay, expiresAt: now + ttlMs });
  }

  evictExpired(now = Date.now()): void {
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}
