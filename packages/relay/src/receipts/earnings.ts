import { type Counts, checkSettlement, portableVerify } from '@meadow/ledger';
import type { ReceiptBook } from './receipt-book.ts';

/** One settled epoch as the household sees it: co-signed bytes, reward, and whether its proof checks here. */
export interface CheckedEarning {
  gateway: string;
  epoch: number;
  bytes: number;
  micros: number;
  /** What every relay co-signed in the epoch, and the relays' pool it shared (from the signed header). */
  epochBytes: number;
  poolMicros: number;
  merkleRoot: string;
  closedAt: number;
  proofVerified: boolean;
  problem?: string;
}

/**
 * The relay's settlements, each re-checked on this machine with the portable verifier: the
 * gateway's signature on the epoch, both signatures on the receipt, and its inclusion proof.
 * A settlement never changes once stored, so a long-running relay passes a `cache` and checks
 * each one once (a year of hourly epochs is thousands of signature checks per page otherwise).
 */
export function checkedEarnings(
  book: ReceiptBook,
  relay: string,
  cache?: Map<string, ReturnType<typeof checkSettlement>>,
): CheckedEarning[] {
  return book.earnings().map((row) => {
    const key = `${row.gateway}/${row.epoch}/${row.settlement.header.gatewaySig}`;
    const check = cache?.get(key) ?? checkSettlement(row.settlement, relay, portableVerify);
    cache?.set(key, check);
    return {
      gateway: row.gateway,
      epoch: row.epoch,
      bytes: row.bytes,
      micros: row.micros,
      epochBytes: row.settlement.header.rewards.reduce((sum, r) => sum + r.bytes, 0),
      poolMicros: row.settlement.header.providerPoolMicros,
      merkleRoot: row.settlement.header.merkleRoot,
      closedAt: row.settlement.header.endedAt,
      proofVerified: check.ok,
      ...(check.ok ? {} : { problem: check.problem }),
    };
  });
}

/** The relay's part of all the relays' co-signed bytes in the epoch, as a percentage. */
export function earningShare(e: Pick<CheckedEarning, 'bytes' | 'epochBytes'>): string {
  return e.epochBytes === 0 ? '—' : `${((100 * e.bytes) / e.epochBytes).toFixed(1)}%`;
}

/** Where the bytes a relay carried for one gateway stand (`whereBytesAre`). */
export interface BytesOnTheirWay {
  gateway: string;
  /** Everything the relay counted for the gateway, both directions. */
  carriedBytes: number;
  /** In the epochs the gateway settled with this relay (their rewards are on the earnings list). */
  settledBytes: number;
  /** Co-signed in an epoch the relay has no settlement for yet: paid when the gateway closes it. */
  awaitingCloseBytes: number;
  /** In no receipt yet. */
  awaitingReceiptBytes: number;
  /** The gateway's epoch of the relay's latest receipts (0: none yet). */
  openEpoch: number;
}

const ZERO: Counts = { bytesToTarget: 0, bytesFromTarget: 0, tunnels: 0 };

/**
 * Every byte carried for the gateway (`carried`: the relay's meter for it), by where it stands on its
 * way to a reward: in a settled epoch, co-signed in an epoch not settled yet, or in no receipt yet
 * (the gateway's next round signs it; a shortfall signed under protest, or bytes the gateway wrote
 * off, stay there).
 */
export function whereBytesAre(book: ReceiptBook, gateway: string, carried: Counts): BytesOnTheirWay {
  const state = book.channel(gateway);
  const last = state.last ?? ZERO;
  const inReceipts = {
    bytesToTarget: state.base.bytesToTarget + last.bytesToTarget,
    bytesFromTarget: state.base.bytesFromTarget + last.bytesFromTarget,
  };
  const settledBytes = book.settledBytes(gateway);
  return {
    gateway,
    carriedBytes: carried.bytesToTarget + carried.bytesFromTarget,
    settledBytes,
    awaitingCloseBytes: Math.max(0, inReceipts.bytesToTarget + inReceipts.bytesFromTarget - settledBytes),
    awaitingReceiptBytes:
      Math.max(0, carried.bytesToTarget - inReceipts.bytesToTarget) +
      Math.max(0, carried.bytesFromTarget - inReceipts.bytesFromTarget),
    openEpoch: state.epoch,
  };
}
