import { createPostgresSchema } from '@meadow/ledger';
import { MAX_GATEWAY_SIBLINGS } from '@meadow/protocol';
import pg from 'pg';
import type { Claim, SessionBook } from './sessions.ts';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS sticky_sessions (
    session_key TEXT PRIMARY KEY,
    relay TEXT NOT NULL,
    expires_at BIGINT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS sticky_sessions_expiry ON sticky_sessions (expires_at);
  CREATE TABLE IF NOT EXISTS session_gateways (
    peer_id TEXT PRIMARY KEY,
    seen_at TIMESTAMPTZ NOT NULL
  );
`;

/** A gateway that has not announced itself for this long is no sibling any more. */
const SIBLING_TIMEOUT_SECONDS = 30;
const SIBLINGS_CACHE_MS = 5_000;

/**
 * Now, in milliseconds, by the database's clock: gateways on several machines then agree on when a
 * binding expires even where their own clocks differ by a few seconds.
 */
const NOW_MS = '(extract(epoch from statement_timestamp()) * 1000)::bigint';

/** Expired bindings are deleted this often by each gateway (a lookup ignores them anyway). */
const SWEEP_INTERVAL_MS = 60_000;

/**
 * Sticky sessions shared by several gateways through PostgreSQL, so that a session's requests
 * leave from one relay whichever gateway a load balancer sends them to. Every request that names
 * a session asks the database (one indexed row), never a copy: a copy a second old would let two
 * gateways bind one new session to two relays. A binding is made with one conditional upsert, so
 * of two gateways binding a new session at once, the first wins and the second joins its relay.
 */
export class PostgresSessions implements SessionBook {
  readonly kind = 'postgres';
  private readonly pool: pg.Pool;
  private sweptAt = 0;
  /** Every relay linked here asks about once a minute, all for the same answer: read at most every 5 s. */
  private siblingsRead: { gateway: string; at: number; ids: Promise<string[]> } | undefined;

  private constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  static async open(connectionString: string): Promise<PostgresSessions> {
    // A database that hangs fails the request within seconds instead of holding the crawler.
    const pool = new pg.Pool({ connectionString, max: 4, connectionTimeoutMillis: 5_000, query_timeout: 5_000 });
    // An idle client the server dropped would otherwise be an unhandled 'error' that ends the process.
    pool.on('error', () => {});
    try {
      await createPostgresSchema(pool, 'meadow-sessions-schema', SCHEMA);
    } catch (err) {
      await pool.end();
      throw err;
    }
    return new PostgresSessions(pool);
  }

  async get(customer: string, session: string): Promise<string | undefined> {
    // Named: each connection parses and plans it once.
    const { rows } = await this.pool.query<{ relay: string }>({
      name: 'meadow-session-get',
      text: `SELECT relay FROM sticky_sessions WHERE session_key = $1 AND expires_at > ${NOW_MS}`,
      values: [keyOf(customer, session)],
    });
    return rows[0]?.relay;
  }

  async claim(customer: string, session: string, relay: string, ttlMs: number, replacing?: string): Promise<Claim> {
    const key = keyOf(customer, session);
    // Two statements, each with its own snapshot: the SELECT sees a binding that another gateway's
    // INSERT committed while this one waited for it. A binding that ends between them: once more.
    for (let attempt = 0; attempt < 3; attempt++) {
      // Inserted, or written over a binding that has expired or names the relay being replaced.
      const claimed = await this.pool.query({
        name: 'meadow-session-claim',
        text: `INSERT INTO sticky_sessions AS s (session_key, relay, expires_at) VALUES ($1, $2, ${NOW_MS} + $3)
               ON CONFLICT (session_key) DO UPDATE SET relay = excluded.relay, expires_at = excluded.expires_at
                 WHERE s.expires_at <= ${NOW_MS} OR (s.relay = $4 AND s.relay <> excluded.relay)`,
        values: [key, relay, Math.round(ttlMs), replacing ?? null],
      });
      if (claimed.rowCount === 1) return { relay, made: true };
      // The live binding stands (one to the same relay keeps its TTL).
      const bound = await this.get(customer, session);
      if (bound != null) return { relay: bound, made: false };
    }
    throw new Error('the session binding kept changing: three claims in a row found it gone');
  }

  async release(customer: string, session: string, relay: string): Promise<void> {
    await this.pool.query('DELETE FROM sticky_sessions WHERE session_key = $1 AND relay = $2', [
      keyOf(customer, session),
      relay,
    ]);
  }

  async announce(gateway: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO session_gateways (peer_id, seen_at) VALUES ($1, statement_timestamp())
       ON CONFLICT (peer_id) DO UPDATE SET seen_at = excluded.seen_at`,
      [gateway],
    );
  }

  siblings(gateway: string): Promise<string[]> {
    const now = Date.now();
    const last = this.siblingsRead;
    if (last != null && last.gateway === gateway && now - last.at < SIBLINGS_CACHE_MS) return last.ids;
    const ids = this.pool
      .query<{ peer_id: string }>(
        `SELECT peer_id FROM session_gateways
         WHERE peer_id <> $1 AND seen_at > statement_timestamp() - make_interval(secs => $2)
         ORDER BY seen_at DESC LIMIT $3`,
        [gateway, SIBLING_TIMEOUT_SECONDS, MAX_GATEWAY_SIBLINGS],
      )
      .then(({ rows }) => rows.map((r) => r.peer_id));
    // A failed read is not kept: the next relay's question asks the database again.
    this.siblingsRead = { gateway, at: now, ids };
    ids.catch(() => {
      if (this.siblingsRead?.ids === ids) this.siblingsRead = undefined;
    });
    return ids;
  }

  /** A gateway that stops cleanly is no sibling from then on. */
  async leave(gateway: string): Promise<void> {
    await this.pool.query('DELETE FROM session_gateways WHERE peer_id = $1', [gateway]);
  }

  async flush(): Promise<boolean> {
    const now = Date.now();
    if (now - this.sweptAt < SWEEP_INTERVAL_MS) return false;
    const { rowCount } = await this.pool.query(`DELETE FROM sticky_sessions WHERE expires_at <= ${NOW_MS}`);
    this.sweptAt = now;
    return (rowCount ?? 0) > 0;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** PostgreSQL text holds no NUL byte; a customer name holds no `/`, so the key is unambiguous. */
function keyOf(customer: string, session: string): string {
  return `${customer}/${session}`;
}
