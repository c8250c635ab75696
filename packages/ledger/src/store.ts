import type { EntryKind, LedgerEntry } from './entries.ts';

/**
 * Where a ledger lives: an append-only log of hash-chained entries, one chain per gateway.
 * Implementations refuse to change or delete rows and refuse an append whose index or prev does
 * not extend the stored head (so two writers can never fork a chain). Two implementations:
 * SqliteLedgerStore (default) and PostgresLedgerStore; both pass test/store-compliance.
 */
export interface LedgerStore {
  readonly kind: 'sqlite' | 'postgres';
  /** The last entry of a gateway's chain. */
  head(gateway: string): Promise<LedgerEntry | undefined>;
  /** The last entry of the given kind in a gateway's chain (e.g. the latest epoch header). */
  lastOfKind(gateway: string, kind: EntryKind): Promise<LedgerEntry | undefined>;
  /** The last `limit` entries of a kind in a gateway's chain, newest first (e.g. recent epoch headers). */
  recentOfKind(gateway: string, kind: EntryKind, limit: number): Promise<LedgerEntry[]>;
  append(entry: LedgerEntry): Promise<void>;
  /** Consecutive entries of one gateway's chain in one transaction: all are written or none. */
  appendMany(entries: LedgerEntry[]): Promise<void>;
  /** Entries in chain order: of one gateway from an index on, or of every gateway (gateway by gateway). */
  entries(options?: { gateway?: string; fromIndex?: number; batchSize?: number }): AsyncIterable<LedgerEntry>;
  gateways(): Promise<string[]>;
  close(): Promise<void>;
}

export class StoreConflictError extends Error {
  readonly code = 'MEADOW_ERR_LEDGER_CONFLICT';
  constructor(message: string) {
    super(message);
    this.name = 'StoreConflictError';
  }
}
