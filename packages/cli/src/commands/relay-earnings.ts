import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadOrCreateIdentity } from '@meadow/discovery';
import { createSigner } from '@meadow/ledger';
import { formatBytes, formatMicros, formatUnits, shortPeerId } from '@meadow/protocol';
import { checkedEarnings, earningShare, ReceiptBook, whereBytesAre } from '@meadow/relay';
import { ConfigError, loadConfig, relativeTo, relayConfig } from '../config.ts';

/**
 * `meadow relay earnings`: the household's own copy of its receipts and settlements, each
 * settlement's inclusion proof re-checked here against the epoch's root signed by the gateway.
 */
export async function relayEarningsCommand(configPath: string, options: { json?: boolean }): Promise<number> {
  const config = await loadConfig(configPath, relayConfig);
  const identityPath = relativeTo(configPath, config.identity);
  const dataDir = relativeTo(configPath, config.dataDir);
  if (!existsSync(identityPath))
    throw new ConfigError(`${configPath}: identity: no key at ${identityPath} (run meadow relay init)`);
  const { privateKey } = await loadOrCreateIdentity(identityPath);
  const relay = createSigner(privateKey.raw).peerId;
  const book = new ReceiptBook(join(dataDir, 'receipts.db'));
  try {
    const rows = checkedEarnings(book, relay);
    const receipts = book.receipts();
    const disputes = book.disputes();
    // From the meter as last saved (every 5 s while the relay runs): the dashboard has it live.
    const bytes = [...book.meters()].map(([gateway, carried]) => whereBytesAre(book, gateway, carried));
    const verified = rows.filter((r) => r.proofVerified);
    const total = verified.reduce((sum, r) => sum + r.micros, 0);
    if (options.json) {
      process.stdout.write(
        `${JSON.stringify({
          relay,
          epochs: rows,
          totalMicros: total,
          receipts: receipts.length,
          disputes: disputes.length,
          bytes,
        })}\n`,
      );
      return rows.every((r) => r.proofVerified) ? 0 : 1;
    }
    const out: string[] = [
      `Relay ${relay}`,
      "Earnings, each checked on this machine: the gateway's signature on the epoch, both signatures on",
      "the receipt, and the receipt's inclusion proof against the epoch's Merkle root.",
      '',
    ];
    if (rows.length === 0)
      out.push('No epoch has been settled yet (epochs close on the gateway; see its ledger.epochSeconds).');
    else {
      out.push(
        `${'epoch'.padStart(6)}  ${'gateway'.padEnd(14)}  ${'co-signed'.padStart(10)}  ${'share'.padStart(7)}  ${"relays' pool".padStart(14)}  ${'reward'.padStart(14)}  proof`,
      );
      for (const r of rows) {
        out.push(
          `${String(r.epoch).padStart(6)}  ${shortPeerId(r.gateway).padEnd(14)}  ${formatBytes(r.bytes).padStart(10)}  ${earningShare(r).padStart(7)}  ${formatUnits(r.poolMicros).padStart(14)}  ${formatUnits(r.micros).padStart(14)}  ${r.proofVerified ? '✓' : `✗ ${r.problem}`}`,
        );
      }
      out.push(
        '',
        "share: your co-signed bytes of all the relays' in the epoch; your reward is that share of the pool",
        '(revenue billed for exactly those bytes, less the protocol fee), in whole micro-units: docs/rewards.md.',
        '',
        `Total of verified epochs: ${formatMicros(total)}`,
      );
    }
    if (bytes.length > 0) {
      out.push(
        '',
        'Where every byte carried stands (the meter as last saved; the dashboard has it live):',
        `${'gateway'.padEnd(14)}  ${'carried'.padStart(10)}  ${'settled'.padStart(10)}  ${'co-signed, unsettled'.padStart(21)}  ${'no receipt yet'.padStart(14)}`,
      );
      for (const b of bytes)
        out.push(
          `${shortPeerId(b.gateway).padEnd(14)}  ${formatBytes(b.carriedBytes).padStart(10)}  ${formatBytes(b.settledBytes).padStart(10)}  ${formatBytes(b.awaitingCloseBytes).padStart(21)}  ${formatBytes(b.awaitingReceiptBytes).padStart(14)}`,
        );
      out.push('');
    }
    const latest = receipts.at(-1);
    out.push(
      `Receipts co-signed: ${receipts.length}${latest == null ? '' : ` (latest: epoch ${latest.epoch}, seq ${latest.seq}, ${formatBytes(latest.bytesToTarget + latest.bytesFromTarget)})`}; disputes: ${disputes.length}`,
    );
    for (const d of disputes.slice(-5)) out.push(`  dispute, epoch ${d.epoch} seq ${d.seq}: ${d.reason}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return rows.every((r) => r.proofVerified) ? 0 : 1;
  } finally {
    book.close();
  }
}
