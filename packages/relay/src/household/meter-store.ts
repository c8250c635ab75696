import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

/** Usage is kept in 15-minute buckets: every time zone's offset is a multiple of 15 minutes. */
export const BUCKET_MS = 15 * 60 * 1000;

export interface Usage {
  bytesToTarget: number;
  bytesFromTarget: number;
  tunnels: number;
}

/**
 * The relay's own meter on disk (node:sqlite): payload bytes per 15-minute bucket, plus small
 * persistent state (pause flag, hibernation). Deltas are buffered in memory and flushed in one
 * transaction; `flush()` runs periodically and at stop.
 */
export class MeterStore {
  private readonly db: DatabaseSync;
  private readonly pending = new Map<number, Usage>();
  private allTime: Usage;

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.db = new DatabaseSync(path);
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      CREATE TABLE IF NOT EXISTS usage_buckets (
        bucket_start_ms INTEGER PRIMARY KEY,
        bytes_to_target INTEGER NOT NULL DEFAULT 0,
        bytes_from_target INTEGER NOT NULL DEFAULT 0,
        tunnels INTEGER NOT NULL DEFAULT 0
      );
      CREATE TABLE IF NOT EXISTS relay_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS online_buckets (
        bucket_start_ms INTEGER PRIMARY KEY,
        seconds REAL NOT NULL DEFAULT 0
      );
    `);
    this.allTime = this.sumStored(0, Number.MAX_SAFE_INTEGER);
  }

  add(now: number, usage: Partial<Usage>): void {
    const bucket = Math.floor(now / BUCKET_MS) * BUCKET_MS;
    const entry = this.pending.get(bucket) ?? { bytesToTarget: 0, bytesFromTarget: 0, tunnels: 0 };
    entry.bytesToTarget += usage.bytesToTarget ?? 0;
    entry.bytesFromTarget += usage.bytesFromTarget ?? 0;
    entry.tunnels += usage.tunnels ?? 0;
    this.pending.set(bucket, entry);
    this.allTime.bytesToTarget += usage.bytesToTarget ?? 0;
    this.allTime.bytesFromTarget += usage.bytesFromTarget ?? 0;
    this.allTime.tunnels += usage.tunnels ?? 0;
  }

  /** Usage in [from, to), stored and pending, at bucket granularity. */
  sum(from: number, to: number): Usage {
    const total = this.sumStored(from, to);
    for (const [bucket, usage] of this.pending) {
      if (bucket >= from && bucket < to) {
        total.bytesToTarget += usage.bytesToTarget;
        total.bytesFromTarget += usage.bytesFromTarget;
        total.tunnels += usage.tunnels;
      }
    }
    return total;
  }

  /**
   * Usage between consecutive `boundaries` (ascending instants; steps may differ in length, as
   * days do when the clocks change): one entry per step, empty steps included (for charts).
   */
  series(boundaries: number[]): Array<{ start: number } & Usage> {
    const steps = boundaries.slice(0, -1).map((start) => ({ start, bytesToTarget: 0, bytesFromTarget: 0, tunnels: 0 }));
    const from = boundaries[0] ?? 0;
    const to = boundaries.at(-1) ?? 0;
    const rows = this.db
      .prepare(
        `SELECT bucket_start_ms AS bucket, bytes_to_target AS up, bytes_from_target AS down, tunnels
         FROM usage_buckets WHERE bucket_start_ms >= ? AND bucket_start_ms < ?`,
      )
      .all(from, to) as Array<{ bucket: number; up: number; down: number; tunnels: number }>;
    const add = (bucket: number, u: Usage): void => {
      const step = steps[boundaries.findLastIndex((b) => b <= bucket)];
      if (step == null) return;
      step.bytesToTarget += u.bytesToTarget;
      step.bytesFromTarget += u.bytesFromTarget;
      step.tunnels += u.tunnels;
    };
    for (const r of rows) add(r.bucket, { bytesToTarget: r.up, bytesFromTarget: r.down, tunnels: r.tunnels });
    for (const [bucket, usage] of this.pending) if (bucket >= from && bucket < to) add(bucket, usage);
    return steps;
  }

  /** Records that the relay was running for `seconds` up to `now` (for the uptime score). */
  addOnline(now: number, seconds: number): void {
    const bucket = Math.floor(now / BUCKET_MS) * BUCKET_MS;
    this.db
      .prepare(
        `INSERT INTO online_buckets (bucket_start_ms, seconds) VALUES (?, ?)
         ON CONFLICT (bucket_start_ms) DO UPDATE SET seconds = MIN(?, seconds + excluded.seconds)`,
      )
      .run(bucket, seconds, BUCKET_MS / 1000);
  }

  /** Seconds online in [from, to). */
  onlineSeconds(from: number, to: number): number {
    const row = this.db
      .prepare(
        'SELECT COALESCE(SUM(seconds), 0) AS seconds FROM online_buckets WHERE bucket_start_ms >= ? AND bucket_start_ms < ?',
      )
      .get(from, to) as { seconds: number };
    return row.seconds;
  }

  total(): Usage {
    return { ...this.allTime };
  }

  flush(): void {
    if (this.pending.size === 0) return;
    const upsert = this.db.prepare(`
      INSERT INTO usage_buckets (bucket_start_ms, bytes_to_target, bytes_from_target, tunnels) VALUES (?, ?, ?, ?)
      ON CONFLICT (bucket_start_ms) DO UPDATE SET
        bytes_to_target = bytes_to_target + excluded.bytes_to_target,
        bytes_from_target = bytes_from_target + excluded.bytes_from_target,
        tunnels = tunnels + excluded.tunnels`);
    this.db.exec('BEGIN');
    try {
      for (const [bucket, u] of this.pending) upsert.run(bucket, u.bytesToTarget, u.bytesFromTarget, u.tunnels);
      this.db.exec('COMMIT');
      this.pending.clear();
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  getState(key: string): string | undefined {
    const row = this.db.prepare('SELECT value FROM relay_state WHERE key = ?').get(key) as
      | { value: string }
      | undefined;
    return row?.value;
  }

  setState(key: string, value: string | undefined): void {
    if (value === undefined) this.db.prepare('DELETE FROM relay_state WHERE key = ?').run(key);
    else
      this.db
        .prepare(
          'INSERT INTO relay_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
        )
        .run(key, value);
  }

  close(): void {
    this.flush();
    this.db.close();
  }

  private sumStored(from: number, to: number): Usage {
    const row = this.db
      .prepare(
        `SELECT COALESCE(SUM(bytes_to_target), 0) AS up, COALESCE(SUM(bytes_from_target), 0) AS down, COALESCE(SUM(tunnels), 0) AS tunnels
         FROM usage_buckets WHERE bucket_start_ms >= ? AND bucket_start_ms < ?`,
      )
      .get(from, to) as { up: number; down: number; tunnels: number };
    return { bytesToTarget: row.up, bytesFromTarget: row.down, tunnels: row.tunnels };
  }
}
