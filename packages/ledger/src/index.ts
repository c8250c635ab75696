/**
 * @meadow/ledger — co-signed cumulative bandwidth receipts, an append-only hash-chained store
 * (SQLite or PostgreSQL), epochs with RFC 6962 Merkle roots, rewards from revenue, and the
 * verifier anyone can run over an export (docs/receipts.md, docs/rewards.md).
 *
 * @example
 * ```ts
 * import { createLedger, verifyExport, exportLedger } from '@meadow/ledger'
 * const ledger = await createLedger({ network: 'meadow', feePpm: 50_000, store: 'data/ledger.db' }, { signer })
 * const proposal = ledger.propose(relayPeerId, { bytesToTarget, bytesFromTarget, tunnels }, Date.now())
 * // … the relay countersigns …
 * await ledger.recordReceipt({ ...proposal, relaySig }, { relay: relayPeerId })
 * const { header, settlements } = await ledger.closeEpoch({ startedAt, endedAt, revenue })
 * console.log(await verifyExport(exportLedger(ledger.store, { network: 'meadow' })))
 * ```
 */
import { Ledger, type LedgerInit } from './ledger.ts';
import type { Signer } from './signatures.ts';
import { SqliteLedgerStore } from './sqlite-store.ts';
import type { LedgerStore } from './store.ts';

/** Opens a store from a path (SQLite) or a postgres:// URL. */
export async function openLedgerStore(location: string): Promise<LedgerStore> {
  if (/^postgres(?:ql)?:\/\//.test(location)) {
    // Loaded on demand: relays and single-machine gateways never need the PostgreSQL client.
    const { PostgresLedgerStore } = await import('./postgres-store.ts');
    return PostgresLedgerStore.open(location);
  }
  return new SqliteLedgerStore(location);
}

export async function createLedger(
  init: LedgerInit & { store: string | LedgerStore },
  components: { signer: Signer },
): Promise<Ledger> {
  const store = typeof init.store === 'string' ? await openLedgerStore(init.store) : init.store;
  return Ledger.open({ network: init.network, feePpm: init.feePpm }, { store, signer: components.signer });
}

export { canonicalJson, fromHex, toHex } from './canonical.ts';
export { ChainRules, LedgerRejection, type RejectReason, receiptLeaf } from './chain.ts';
export {
  type Counts,
  type DisputeBody,
  disputeMessage,
  type EntryKind,
  type EpochHeader,
  entryHash,
  entryLine,
  epochMessage,
  GENESIS_HASH,
  type LedgerEntry,
  type RevenueBody,
} from './entries.ts';
export { exportLedger } from './export.ts';
export { type ClosedEpoch, customerPseudonym, Ledger, type LedgerInit, type Settlement } from './ledger.ts';
export { inclusionProof, leafHash, merkleRoot, verifyInclusion } from './merkle.ts';
export { peerIdFromPublicKey, peerPublicKey } from './peer-key.ts';
export type { PostgresLedgerStore } from './postgres-store.ts';
export { createPostgresSchema, inPostgresTransaction } from './postgres-transaction.ts';
export {
  channelKey,
  RECEIPT_DOMAIN,
  type ReceiptFields,
  receiptFields,
  receiptMessage,
  type SignedReceipt,
} from './receipt.ts';
export { computeRewards, type EpochRewards, lineMicros, type RevenueLine, type RewardLine } from './rewards.ts';
export { checkSettlement, type SettlementCheck } from './settlement.ts';
export { createSigner, nodeVerify, portableVerify, type Signer, type VerifyFn } from './signatures.ts';
export { type LedgerStore, StoreConflictError } from './store.ts';
export { type VerifyResult, type VerifySummary, verifyExport } from './verify.ts';
export {
  MAX_MESSAGE_BYTES,
  type MessageStreamLike,
  type Proposal,
  RECEIPT_PROTOCOL,
  RECEIPT_REFUSAL_REASONS,
  RECEIPT_RESULT_LABELS,
  type ReceiptRefusalReason,
  type ReceiptRequest,
  type ReceiptResponse,
  readMessage,
  receiptResultLabel,
  requestSchema,
  responseSchema,
  writeMessage,
} from './wire.ts';
export { SqliteLedgerStore };
