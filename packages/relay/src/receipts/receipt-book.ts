import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { Counts, DisputeBody, Settlement, SignedReceipt } from '@meadow/ledger';
import type { LiveCounts } from '@meadow/protocol';

/** Where this relay stands with one gateway: the open epoch, what earlier epochs settled, the last receipt signed. */
export interface ChannelState {
  gateway: string;
  epoch: number;
  /** Bytes of this gateway's lifetime count that belong to earlier epochs (or were disputed away). */
  base: Counts;
  last: SignedReceipt | undefined;
  /** The shortfall (own count minus the gateway's) last put on record in this epoch. */
  shortfall: Counts;
}

export interface EarningsRow {
  gateway: string;
  epoch: number;
  bytes: number;
  micros: number;
  settlement: Settlement;
}

const ZERO: Counts = { bytesToTarget: 0, bytesFromTarget: 0, tunnels: 0 };

/**
 * The relay's own copy of everything it signed (SQLite, beside the household meter): channel
 * state, every co-signed receipt, its disputes, the settlements gateways sent, and its per-gateway
 * byte counts. Writes happen before the relay answers, so a signature never outlives its record.
 */
export class ReceiptBook {
  private readonly db: DatabaseSync;

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.db = new DatabaseSync(path);
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = FULL;
      CREATE TABLE IF NOT EXISTS channels (
        gateway TEXT PRIMARY KEY, epoch INTEGER NOT NULL, base TEXT NOT NULL, last TEXT, shortfall TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS receipts (
        gateway TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (gateway, epoch, seq));
      CREATE TABLE IF NOT EXISTS disputes (
        gateway TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL, body TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS settlements (
        gateway TEXT NOT NULL, epoch INTEGER NOT NULL, bytes INTEGER NOT NULL, micros INTEGER NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (gateway, epoch));
      CREATE TABLE IF NOT EXISTS gateway_meter (
        gateway TEXT PRIMARY KEY, bytes_to_target INTEGER NOT NULL, bytes_from_target INTEGER NOT NULL, tunnels INTEGER NOT NULL);
    `);
  }

  channel(gateway: string): ChannelState {
    const row = this.db.prepare('SELECT * FROM channels WHERE gateway = ?').get(gateway) as
      | { epoch: number; base: string; last: string | null; shortfall: string }
      | undefined;
    if (row == null) return { gateway, epoch: 0, base: { ...ZERO }, last: undefined, shortfall: { ...ZERO } };
    return {
      gateway,
      epoch: row.epoch,
      base: JSON.parse(row.base),
      last: row.last == null ? undefined : JSON.parse(row.last),
      shortfall: JSON.parse(row.shortfall),
    };
  }

  /** Saves the channel and, atomically with it, the receipt just signed and the meter it was checked against. */
  saveSigned(state: ChannelState, receipt: SignedReceipt, meter: LiveCounts): void {
    this.transaction(() => {
      this.putChannel(state);
      this.db
        .prepare('INSERT INTO receipts (gateway, epoch, seq, body) VALUES (?, ?, ?, ?)')
        .run(receipt.gateway, receipt.epoch, receipt.seq, JSON.stringify(receipt));
      this.putMeter(state.gateway, meter);
    });
  }

  saveDispute(state: ChannelState, dispute: DisputeBody, meter: LiveCounts): void {
    this.transaction(() => {
      this.putChannel(state);
      this.db
        .prepare('INSERT INTO disputes (gateway, epoch, seq, at, body) VALUES (?, ?, ?, ?, ?)')
        .run(dispute.gateway, dispute.epoch, dispute.seq, Date.now(), JSON.stringify(dispute));
      this.putMeter(state.gateway, meter);
    });
  }

  saveSettlement(settlement: Settlement, bytes: number, micros: number): void {
    this.db
      .prepare('INSERT OR REPLACE INTO settlements (gateway, epoch, bytes, micros, body) VALUES (?, ?, ?, ?, ?)')
      .run(settlement.header.gateway, settlement.header.epoch, bytes, micros, JSON.stringify(settlement));
  }

  /** Bytes in the settlements a gateway sent, all epochs together. */
  settledBytes(gateway: string): number {
    const sql = 'SELECT COALESCE(SUM(bytes), 0) AS bytes FROM settlements WHERE gateway = ?';
    return (this.db.prepare(sql).get(gateway) as { bytes: number }).bytes;
  }

  saveMeters(meters: Map<string, LiveCounts>): void {
    this.transaction(() => {
      for (const [gateway, counts] of meters) this.putMeter(gateway, counts);
    });
  }

  meters(): Map<string, LiveCounts> {
    const rows = this.db.prepare('SELECT * FROM gateway_meter').all() as unknown as {
      gateway: string;
      bytes_to_target: number;
      bytes_from_target: number;
      tunnels: number;
    }[];
    return new Map(
      rows.map((r) => [
        r.gateway,
        { bytesToTarget: r.bytes_to_target, bytesFromTarget: r.bytes_from_target, tunnels: r.tunnels },
      ]),
    );
  }

  earnings(): EarningsRow[] {
    const rows = this.db.prepare('SELECT * FROM settlements ORDER BY epoch, gateway').all() as unknown as {
      gateway: string;
      epoch: number;
      bytes: number;
      micros: number;
      body: string;
    }[];
    return rows.map((r) => ({ ...r, settlement: JSON.parse(r.body) }));
  }

  receipts(): SignedReceipt[] {
    const rows = this.db.prepare('SELECT body FROM receipts ORDER BY gateway, epoch, seq').all() as unknown as {
      body: string;
    }[];
    return rows.map((r) => JSON.parse(r.body));
  }

  disputes(): DisputeBody[] {
    const rows = this.db.prepare('SELECT body FROM disputes ORDER BY at').all() as unknown as { body: string }[];
    return rows.map((r) => JSON.parse(r.body));
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  private putChannel(state: ChannelState): void {
    this.db
      .prepare('INSERT OR REPLACE INTO channels (gateway, epoch, base, last, shortfall) VALUES (?, ?, ?, ?, ?)')
      .run(
        state.gateway,
        state.epoch,
        JSON.stringify(state.base),
        state.last == null ? null : JSON.stringify(state.last),
        JSON.stringify(state.shortfall),
      );
  }

  private putMeter(gateway: string, m: LiveCounts): void {
    this.db
      .prepare(
        'INSERT OR REPLACE INTO gateway_meter (gateway, bytes_to_target, bytes_from_target, tunnels) VALUES (?, ?, ?, ?)',
      )
      .run(gateway, m.bytesToTarget, m.bytesFromTarget, m.tunnels);
  }

  private transaction(fn: () => void): void {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      fn();
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }
}
