import type { DatabaseSync } from 'node:sqlite';
import type { Counts } from '@meadow/ledger';
import { inTransaction, openDatabase } from './sqlite.ts';

/** What the open epoch has counted so far: per relay (the next proposal) and per customer (revenue). */
export interface EpochMeters {
  epoch: number;
  relays: Map<string, Counts>;
  customers: Map<string, Counts>;
}

/**
 * The receipt clerk's counters on disk (SQLite), saved every second: after a crash the gateway
 * proposes to each relay from where it was rather than from its last co-signed receipt, and the
 * open epoch's revenue keeps the bytes customers moved before the crash.
 */
export class MeterSnapshots {
  private readonly db: DatabaseSync;
  private lastSaved = '';

  constructor(path: string) {
    this.db = openDatabase(
      path,
      `
      CREATE TABLE IF NOT EXISTS epoch_meters (
        kind TEXT NOT NULL CHECK (kind IN ('relay', 'customer')),
        key TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        bytes_to_target INTEGER NOT NULL,
        bytes_from_target INTEGER NOT NULL,
        tunnels INTEGER NOT NULL,
        PRIMARY KEY (kind, key)
      );
    `,
    );
  }

  /** The counters saved for `epoch`, if the last save was in that epoch. */
  load(epoch: number): EpochMeters {
    const rows = this.db.prepare('SELECT * FROM epoch_meters WHERE epoch = ?').all(epoch) as Array<{
      kind: 'relay' | 'customer';
      key: string;
      bytes_to_target: number;
      bytes_from_target: number;
      tunnels: number;
    }>;
    const meters: EpochMeters = { epoch, relays: new Map(), customers: new Map() };
    for (const r of rows) {
      const counts = { bytesToTarget: r.bytes_to_target, bytesFromTarget: r.bytes_from_target, tunnels: r.tunnels };
      (r.kind === 'relay' ? meters.relays : meters.customers).set(r.key, counts);
    }
    return meters;
  }

  /** Replaces the saved counters; true if anything changed since the last save (and was written). */
  save(meters: EpochMeters): boolean {
    const rows = [
      ...[...meters.relays].map(([key, c]) => ['relay', key, c] as const),
      ...[...meters.customers].map(([key, c]) => ['customer', key, c] as const),
    ];
    const signature = JSON.stringify([meters.epoch, rows]);
    if (signature === this.lastSaved) return false;
    const insert = this.db.prepare(
      'INSERT INTO epoch_meters (kind, key, epoch, bytes_to_target, bytes_from_target, tunnels) VALUES (?, ?, ?, ?, ?, ?)',
    );
    inTransaction(this.db, () => {
      this.db.exec('DELETE FROM epoch_meters');
      for (const [kind, key, c] of rows)
        insert.run(kind, key, meters.epoch, c.bytesToTarget, c.bytesFromTarget, c.tunnels);
    });
    this.lastSaved = signature;
    return true;
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
