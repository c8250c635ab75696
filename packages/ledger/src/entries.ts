import { createHash } from 'node:crypto';
import { canonicalJson, fromHex, utf8 } from './canonical.ts';
import type { SignedReceipt } from './receipt.ts';
import type { RewardLine } from './rewards.ts';

export type EntryKind = 'receipt' | 'dispute' | 'revenue' | 'epoch';
export const ENTRY_KINDS: readonly EntryKind[] = ['receipt', 'dispute', 'revenue', 'epoch'];

export interface Counts {
  bytesToTarget: number;
  bytesFromTarget: number;
  tunnels: number;
}

/** A relay's signed statement that a proposal did not match its own meter; both figures are kept. */
export interface DisputeBody {
  network: string;
  epoch: number;
  gateway: string;
  relay: string;
  seq: number;
  proposed: Counts;
  relayCount: Counts;
  reason: string;
  relaySig: string;
}

/** One customer's billable bytes in an epoch (the customer is a pseudonym, not an account name). */
export interface RevenueBody {
  epoch: number;
  customer: string;
  bytes: number;
  priceMicrosPerGb: number;
  micros: number;
}

export interface EpochHeader {
  network: string;
  gateway: string;
  epoch: number;
  startedAt: number;
  endedAt: number;
  /** Hash of the entry just before this header: the signature commits to the whole chain so far. */
  chainHead: string;
  receipts: number;
  merkleRoot: string;
  revenueMicros: number;
  feePpm: number;
  providerPoolMicros: number;
  rewards: RewardLine[];
  gatewaySig: string;
}

export interface EntryBodies {
  receipt: SignedReceipt;
  dispute: DisputeBody;
  revenue: RevenueBody;
  epoch: EpochHeader;
}

export interface LedgerEntry<K extends EntryKind = EntryKind> {
  gateway: string;
  index: number;
  kind: K;
  body: EntryBodies[K];
  prev: string;
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);
const ENTRY_DOMAIN = utf8('meadow-ledger-v1\0');
export const EPOCH_DOMAIN = 'meadow-epoch-v1\0';
export const DISPUTE_DOMAIN = 'meadow-dispute-v1\0';

/** sha256("meadow-ledger-v1\0" | prev (32 bytes) | canonical JSON of {body, gateway, index, kind}). */
export function entryHash(entry: Omit<LedgerEntry, 'hash'>): string {
  return createHash('sha256')
    .update(ENTRY_DOMAIN)
    .update(fromHex(entry.prev, 32))
    .update(canonicalJson({ body: entry.body, gateway: entry.gateway, index: entry.index, kind: entry.kind }))
    .digest('hex');
}

/** The export's line for an entry: canonical JSON, so any changed byte changes the line's meaning or breaks it. */
export function entryLine(entry: LedgerEntry): string {
  return canonicalJson(entry);
}

export function epochMessage(header: Omit<EpochHeader, 'gatewaySig'> & { gatewaySig?: string }): Uint8Array {
  const { gatewaySig: _omit, ...unsigned } = header;
  return utf8(EPOCH_DOMAIN + canonicalJson(unsigned));
}

export function disputeMessage(dispute: Omit<DisputeBody, 'relaySig'> & { relaySig?: string }): Uint8Array {
  const { relaySig: _omit, ...unsigned } = dispute;
  return utf8(DISPUTE_DOMAIN + canonicalJson(unsigned));
}
