import type pg from 'pg';

/** Runs `work` in one transaction on a client of `pool`: committed if it returns, rolled back if it throws. */
export async function inPostgresTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/** Creates `schema` (idempotent SQL); processes starting at once take turns under the advisory lock `lock`. */
export function createPostgresSchema(pool: pg.Pool, lock: string, schema: string): Promise<void> {
  return inPostgresTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lock]);
    await client.query(schema);
  });
}
