import { checkSettlement, portableVerify } from '@meadow/ledger';
import type { ReceiptBook } from './receipt-book.ts';

/** One settled epoch as the household sees it: co-signed bytes, reward, and whether its proof checks here. */
export interface CheckedEarning {
  gateway: string;
  epoch: number;
  bytes: number;
  micros: number;
  merkleRoot: string;
  closedAt: number;
  proofVerified: boolean;
  problem?: string;
}

/**
 * The relay's settlements, each re-checked on this machine with the portable verifier: the
 * gateway's signature on the epoch, both signatures on the receipt, and its inclusion proof.
 */
export function checkedEarnings(book: ReceiptBook, relay: string): CheckedEarning[] {
  return book.earnings().map((row) => {
    const check = checkSettlement(row.settlement, relay, portableVerify);
    return {
      gateway: row.gateway,
      epoch: row.epoch,
      bytes: row.bytes,
      micros: row.micros,
      merkleRoot: row.settlement.header.merkleRoot,
      closedAt: row.settlement.header.endedAt,
      proofVerified: check.ok,
      ...(check.ok ? {} : { problem: check.problem }),
    };
  });
}
