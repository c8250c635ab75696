import type { DatabaseSync } from 'node:sqlite';
import { inTransaction, openDatabase } from './sqlite.ts';

interface Entry {
  relay: string;
  expiresAt: number;
}

/**
 * Sticky sessions: (customer, session id) → the relay that serves it until the TTL passes.
 * With a database path, bindings survive a gateway restart: new ones are written once a second
 * (`flush`), and the live ones are loaded at start, so a session whose relay reconnects keeps it.
 */
export class StickySessions {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly db: DatabaseSync | undefined;
  private readonly dirty = new Map<string, Entry>();

  constructor(options: { maxEntries?: number; path?: string } = {}) {
    this.maxEntries = options.maxEntries ?? 1_000_000;
    if (options.path == null) return;
    this.db = openDatabase(
      options.path,
      `
      CREATE TABLE IF NOT EXISTS sticky_sessions (
        session_key TEXT PRIMARY KEY,
        relay TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      );
    `,
    );
    const now = Date.now();
    this.db.prepare('DELETE FROM sticky_sessions WHERE expires_at <= ?').run(now);
    const rows = this.db.prepare('SELECT session_key, relay, expires_at FROM sticky_sessions').all() as Array<{
      session_key: string;
      relay: string;
      expires_at: number;
    }>;
    for (const r of rows) this.entries.set(r.session_key, { relay: r.relay, expiresAt: r.expires_at });
  }

  get size(): number {
    return this.entries.size;
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
    const entry = { relay, expiresAt: now + ttlMs };
    this.entries.set(key, entry);
    if (this.db != null) this.dirty.set(key, entry);
  }

  /**
   * Ends a binding to `relay`, made by a request whose tunnel then failed there, unless the session
   * has been bound elsewhere since: its next request chooses afresh instead of trying that relay.
   */
  release(customer: string, session: string, relay: string, now = Date.now()): void {
    const key = `${customer}\0${session}`;
    if (this.entries.get(key)?.relay !== relay) return;
    this.entries.delete(key);
    // Written as expired: the same flush deletes it.
    if (this.db != null) this.dirty.set(key, { relay, expiresAt: now });
  }

  evictExpired(now = Date.now()): void {
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }

  /** Writes the bindings made since the last flush (and drops expired rows) in one transaction. */
  flush(now = Date.now()): boolean {
    if (this.db == null || this.dirty.size === 0) return false;
    const upsert = this.db.prepare(
      `INSERT INTO sticky_sessions (session_key, relay, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (session_key) DO UPDATE SET relay = excluded.relay, expires_at = excluded.expires_at`,
    );
    const db = this.db;
    inTransaction(db, () => {
      for (const [key, e] of this.dirty) upsert.run(key, e.relay, e.expiresAt);
      db.prepare('DELETE FROM sticky_sessions WHERE expires_at <= ?').run(now);
    });
    this.dirty.clear();
    return true;
  }

  close(): void {
    try {
      this.flush();
    } finally {
      if (this.db?.isOpen) this.db.close();
    }
  }
}
