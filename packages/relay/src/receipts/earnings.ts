import { checkSettlement, portableVerify } from '@meadow/ledger';
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
