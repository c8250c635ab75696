import { join } from 'node:path';
import {
  checkSettlement,
  type EpochHeader,
  exportLedger,
  type LedgerEntry,
  type LedgerStore,
  openLedgerStore,
  verifyExport,
} from '@meadow/ledger';
import { ReceiptBook } from '@meadow/relay';
import type { LocalNetwork } from '../local-network.ts';

/** Epochs last 4 s in the demo; a crawl of a few seconds may span two or three of them. */
const SETTLE_DEADLINE_MS = 30_000;

/**
 * The demo's ledger chapter: waits until closed epochs have settled every byte the gateway metered
 * for each relay (the crawl may span several epochs), re-verifies the whole export as an outsider
 * would, and shows each relay's co-signed bytes and reward with its locally checked proofs.
 */
export async function showLedger(
  network: LocalNetwork,
  dir: string,
  metered: ReadonlyMap<string, number>,
  say: (text: string) => void,
): Promise<void> {
  say('\nLedger: waiting for epochs to settle every metered byte (epochs last 4 s here)…');
  const store = await openLedgerStore(join(dir, 'gateway-data', 'ledger.db'));
  try {
    const headers = await waitForSettlement(store, network.gateway.peerId, metered);
    for (const header of headers)
      say(
        `  epoch ${header.epoch} closed: ${header.receipts} co-signed channels, Merkle root ${header.merkleRoot.slice(0, 16)}…, ` +
          `revenue ${header.revenueMicros} micro-units, relays' pool ${header.providerPoolMicros} (fee ${header.feePpm / 10_000}%), signed by the gateway`,
      );
    const lines: string[] = [];
    for await (const line of exportLedger(store, { network: (headers[0] as EpochHeader).network })) lines.push(line);
    const verdict = await verifyExport(lines);
    say(
      verdict.ok
        ? `  export re-verified from scratch (${verdict.summary.entries} entries): every hash link, signature, root and reward checks out;\n` +
            `  customers billed for ${verdict.summary.billedBytes} bytes, relays co-signed ${verdict.summary.cosignedBytes}` +
            (verdict.summary.unevenEpochs.count === 0
              ? ', in every epoch alike'
              : ` (${verdict.summary.unevenEpochs.count} epochs differ)`)
        : `  ✗ export does not verify: line ${verdict.line}: ${verdict.message}`,
    );
    for (const [i, relay] of network.relays.entries()) {
      const carried = headers.filter((h) => h.rewards.some((r) => r.relay === relay.peerId));
      if (carried.length === 0) {
        say(`  relay ${i + 1}: carried nothing`);
        continue;
      }
      const rewardLines = carried.map(
        (h) => h.rewards.find((r) => r.relay === relay.peerId) as EpochHeader['rewards'][0],
      );
      const bytes = rewardLines.reduce((sum, l) => sum + l.bytes, 0);
      const micros = rewardLines.reduce((sum, l) => sum + l.micros, 0);
      say(
        `  relay ${i + 1}: ${bytes} bytes co-signed (${metered.get(relay.peerId) ?? 0} metered) in epoch ${carried.map((h) => h.epoch).join(', ')}, ` +
          `reward ${micros} micro-units, ${await proofVerdict(join(dir, `relay-${i + 1}-data`, 'receipts.db'), relay.peerId, carried)}`,
      );
    }
  } finally {
    await store.close();
  }
}

/** The closed epochs with receipts, once together they settle every relay's metered bytes. */
async function waitForSettlement(
  store: LedgerStore,
  gateway: string,
  metered: ReadonlyMap<string, number>,
): Promise<EpochHeader[]> {
  const deadline = Date.now() + SETTLE_DEADLINE_MS;
  let settled = new Map<string, number>();
  for (;;) {
    const headers: EpochHeader[] = [];
    for await (const entry of store.entries({ gateway }))
      if (entry.kind === 'epoch') {
        const header = (entry as LedgerEntry<'epoch'>).body;
        if (header.receipts > 0) headers.push(header);
      }
    settled = new Map();
    for (const h of headers) for (const r of h.rewards) settled.set(r.relay, (settled.get(r.relay) ?? 0) + r.bytes);
    if ([...metered].every(([relay, bytes]) => (settled.get(relay) ?? 0) >= bytes) && headers.length > 0)
      return headers;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const short = [...metered].map(([relay, bytes]) => `${relay}: ${settled.get(relay) ?? 0} of ${bytes}`).join('; ');
  throw new Error(`closed epochs did not settle every metered byte within ${SETTLE_DEADLINE_MS / 1000} s (${short})`);
}

/** Each epoch's settlement as the relay stored it, checked on its own against the signed root. */
async function proofVerdict(bookPath: string, relay: string, epochs: EpochHeader[]): Promise<string> {
  const book = new ReceiptBook(bookPath);
  try {
    // The gateway delivers settlements right after each close; allow them a few seconds to land.
    for (let tries = 0; tries < 50; tries++) {
      const rows = book.earnings();
      const found = epochs.map((h) => rows.find((row) => row.epoch === h.epoch));
      if (found.every((row) => row != null)) {
        const problems = found.map((row) => checkSettlement(row.settlement, relay)).filter((c) => !c.ok);
        return problems.length === 0
          ? `proof ✓ checks against the signed root${epochs.length > 1 ? ` of each of the ${epochs.length} epochs` : ''}`
          : `proof ✗ ${problems.map((p) => p.problem).join('; ')}`;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return 'proof not delivered yet';
  } finally {
    book.close();
  }
}
