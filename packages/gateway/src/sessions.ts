import type { DatabaseSync } from 'node:sqlite';
import { isPostgresUrl, redactUrl, SetupError } from '@meadow/protocol';
import { inTransaction, openDatabase } from './sqlite.ts';

interface Entry {
  relay: string;
  expiresAt: number;
}

type Awaitable<T> = T | Promise<T>;

/** What `claim` found: the relay the session is bound to, and whether this claim bound it. */
export interface Claim {
  relay: string;
  made: boolean;
}

/**
 * Sticky sessions: (customer, session id) → the relay that serves it until the TTL passes, which
 * counts from the first binding, as crawlers expect. Two kinds: `StickySessions` for one gateway
 * (in memory, saved to SQLite), and `PostgresSessions`, shared by several gateways.
 */
export interface SessionBook {
  readonly kind: 'memory' | 'sqlite' | 'postgres';
  /** The relay a live binding names, if any. */
  get(customer: string, session: string): Awaitable<string | undefined>;
  /**
   * Binds the session to `relay` unless it has a live binding, and says which relay the session is
   * bound to now, and whether this call made the binding: if not, another request (at this gateway
   * or another) bound it first, maybe to this same relay. A binding to `replacing`, a relay this
   * request found unusable, is replaced: the session moves.
   */
  claim(customer: string, session: string, relay: string, ttlMs: number, replacing?: string): Awaitable<Claim>;
  /** Ends a binding to `relay` (its tunnel failed there), unless the session is bound elsewhere since. */
  release(customer: string, session: string, relay: string): Awaitable<void>;
  /**
   * A shared store also knows the gateways that share it: each says it is alive with `announce`
   * (every few seconds), and `siblings` names the others alive now, for relays to link to them too.
   */
  announce?(gateway: string): Promise<void>;
  siblings?(gateway: string): Promise<string[]>;
  /** Said at a clean stop: no sibling from now on. */
  leave?(gateway: string): Promise<void>;
  /** Saves what changed (SQLite) or drops expired bindings (PostgreSQL); true if it wrote any. */
  flush(): Awaitable<boolean>;
  close(): Awaitable<void>;
}

/** A SQLite file (bindings survive a restart), a postgres:// URL (shared by gateways), or memory only. */
export async function openSessionBook(location: string | undefined): Promise<SessionBook> {
  if (location == null || !isPostgresUrl(location)) return new StickySessions({ path: location });
  try {
    // Loaded only here: a gateway on SQLite never loads `pg`.
    const { PostgresSessions } = await import('./postgres-sessions.ts');
    return await PostgresSessions.open(location);
  } catch (err) {
    throw new SetupError('sessionStore', `cannot open ${redactUrl(location)}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * One gateway's sessions, in memory. With a database path, bindings survive a gateway restart:
 * new ones are written once a second (`flush`), and the live ones are loaded at start, so a
 * session whose relay reconnects keeps it.
 */
export class StickySessions implements SessionBook {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly db: DatabaseSync | undefined;
  private readonly dirty = new Map<string, Entry>();

  get kind(): 'memory' | 'sqlite' {
    return this.db == null ? 'memory' : 'sqlite';
  }

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

  claim(customer: string, session: string, relay: string, ttlMs: number, replacing?: string, now = Date.now()): Claim {
    const key = `${customer}\0${session}`;
    const existing = this.entries.get(key);
    if (existing != null && existing.expiresAt > now && (existing.relay === relay || existing.relay !== replacing))
      return { relay: existing.relay, made: false };
    if (this.entries.size >= this.maxEntries) this.evictExpired(now);
    const entry = { relay, expiresAt: now + ttlMs };
    this.entries.set(key, entry);
    if (this.db != null) this.dirty.set(key, entry);
    return { relay, made: true };
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
