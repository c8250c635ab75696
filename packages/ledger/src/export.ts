import { canonicalJson } from './canonical.ts';
import { entryLine } from './entries.ts';
import type { LedgerStore } from './store.ts';

/** The export's first line names the format; then one canonical JSON line per entry, chain by chain. */
export async function* exportLedger(
  store: LedgerStore,
  options: { network: string; gateway?: string },
): AsyncIterable<string> {
  // Nothing unprotected in the header: every byte of an export is covered by a check.
  yield canonicalJson({ format: 'meadow-ledger-export', version: 1, network: options.network });
  for await (const entry of store.entries({ gateway: options.gateway })) yield entryLine(entry);
}
