import { join } from 'node:path';
import {
  checkSettlement,
  type EpochHeader,
  exportLedger,
  type LedgerEntry,
  openLedgerStore,
  verifyExport,
} from '@meadow/ledger';
import { formatBytes } from '@meadow/protocol';
import { ReceiptBook } from '@meadow/relay';
import type { LocalNetwork } from '../local-network.ts';

/**
 * The demo's ledger chapter: waits for the epoch that settles the crawl, re-verifies the whole
 * export as an outsider would, and shows each relay's reward with its locally checked proof.
 */
export async function showLedger(network: LocalNetwork, dir: string, say: (text: string) => void): Promise<void> {
  say('\nLedger: waiting for the epoch that settles the crawl to close (epochs last 4 s here)…');
  const store = await openLedgerStore(join(dir, 'gateway-data', 'ledger.db'));
  try {
    let header: EpochHeader | undefined;
    const deadline = Date.now() + 30_000;
    while (header == null && Date.now() < deadline) {
      let lastReceipt = -1;
      for await (const entry of store.entries({ gateway: network.gateway.peerId })) {
        if (entry.kind === 'receipt') lastReceipt = entry.index;
        if (entry.kind === 'epoch' && lastReceipt >= 0 && entry.index > lastReceipt)
          header = (entry as LedgerEntry<'epoch'>).body;
      }
      if (header == null) await new Promise((r) => setTimeout(r, 500));
    }
    if (header == null) throw new Error('no epoch with receipts closed within 30 s');
    say(
      `  epoch ${header.epoch} closed: ${header.receipts} co-signed channels, Merkle root ${header.merkleRoot.slice(0, 16)}…, signed by the gateway`,
    );
    say(
      `  revenue ${header.revenueMicros} micro-units; fee ${header.feePpm / 10_000}%; relays' pool ${header.providerPoolMicros}`,
    );
    const lines: string[] = [];
    for await (const line of exportLedger(store, { network: header.network })) lines.push(line);
    const verdict = await verifyExport(lines);
    say(
      verdict.ok
        ? `  export re-verified from scratch (${verdict.summary.entries} entries): every hash link, signature, root and reward checks out`
        : `  ✗ export does not verify: line ${verdict.line}: ${verdict.message}`,
    );
    for (const [i, relay] of network.relays.entries()) {
      const line = header.rewards.find((r) => r.relay === relay.peerId);
      if (line == null) {
        say(`  relay ${i + 1}: carried nothing in epoch ${header.epoch}`);
        continue;
      }
      // The gateway delivers settlements right after the close; allow them a few seconds to land.
      const book = new ReceiptBook(join(dir, `relay-${i + 1}-data`, 'receipts.db'));
      let settled = book.earnings().find((row) => row.epoch === header.epoch);
      for (let tries = 0; settled == null && tries < 50; tries++) {
        await new Promise((r) => setTimeout(r, 100));
        settled = book.earnings().find((row) => row.epoch === header.epoch);
      }
      book.close();
      const check = settled == null ? undefined : checkSettlement(settled.settlement, relay.peerId);
      say(
        `  relay ${i + 1}: ${formatBytes(line.bytes)} co-signed, reward ${line.micros} micro-units, ` +
          `proof ${check == null ? 'not delivered yet' : check.ok ? '✓ checks against the signed root' : `✗ ${check.problem}`}`,
      );
    }
  } finally {
    await store.close();
  }
}
