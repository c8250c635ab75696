import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  exportLedger,
  nodeVerify,
  openLedgerStore,
  portableVerify,
  type VerifyResult,
  verifyExport,
} from '@meadow/ledger';
import { formatMicros } from '@meadow/protocol';
import { ConfigError, gatewayConfig, ledgerStoreLocation, loadConfig } from '../config.ts';

export const ledgerHelp = `meadow ledger <export|verify> …

  meadow ledger export --config <gateway config> [--out <file>] [--gateway <peer id>]
  meadow ledger export --store <ledger.db | postgres://…> --network <name> [--out <file>]
      writes the ledger as JSON Lines: a header, then every entry of every gateway's chain
      (receipts, disputes, revenue lines, signed epoch headers), each hash-chained to the last.

  meadow ledger verify <file | ->  [--json] [--portable]
      re-checks an export from scratch with nothing but the file: every line canonical, every
      hash link, every Ed25519 signature (gateway and relay), every epoch's Merkle root and
      every reward recomputed from the epoch's receipts and revenue. Prints a verdict, or the
      first problem with its line number; exits 0 when the ledger checks out, 1 when it does not.
      The verdict also sets the bytes billed to customers beside the bytes relays co-signed, and
      names each epoch where they differ (a warning: a gateway billing fewer bytes than its relays
      co-signed keeps part of their revenue; older ledgers and crashes can differ too).
      Signatures are checked with node:crypto under strict RFC 8032 rules; --portable uses
      @noble/ed25519 (zip215: false) instead — the same verdicts, about 15 times slower.

  meadow ledger export --config gw.yaml --out ledger.jsonl && meadow ledger verify ledger.jsonl`;

export async function ledgerCommand(sub: string | undefined, args: string[]): Promise<number> {
  if (sub === 'export') return exportCommand(args);
  if (sub === 'verify') return verifyCommand(args);
  process.stderr.write(
    `meadow: ${sub == null ? 'missing subcommand' : `unknown subcommand "${sub}"`}\n\n${ledgerHelp}\n`,
  );
  return 2;
}

async function exportCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      store: { type: 'string' },
      network: { type: 'string' },
      gateway: { type: 'string' },
      out: { type: 'string', short: 'o' },
    },
  });
  let location: string;
  let network: string;
  if (values.config != null) {
    const config = await loadConfig(values.config, gatewayConfig);
    location = ledgerStoreLocation(values.config, config);
    network = config.ledger.network;
  } else if (values.store != null && values.network != null) {
    location = values.store;
    network = values.network;
  } else {
    throw new ConfigError('ledger export: give --config <gateway config>, or --store <file|url> and --network <name>');
  }
  const store = await openLedgerStore(location);
  const out = values.out == null ? process.stdout : createWriteStream(values.out, { mode: 0o644 });
  let lines = 0;
  try {
    for await (const line of exportLedger(store, { network, gateway: values.gateway })) {
      if (!out.write(`${line}\n`)) await once(out, 'drain');
      lines++;
      if (lines % 100_000 === 0) process.stderr.write(`exported ${lines.toLocaleString('en')} lines…\n`);
    }
  } finally {
    await store.close();
  }
  if (out !== process.stdout) {
    out.end();
    await once(out, 'finish');
    process.stderr.write(`exported ${(lines - 1).toLocaleString('en')} entries to ${values.out}\n`);
  }
  return 0;
}

async function verifyCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: 'boolean' }, portable: { type: 'boolean' } },
  });
  const file = positionals[0];
  if (file == null) throw new ConfigError('ledger verify: give the export file (or - for standard input)');
  const input = file === '-' ? process.stdin : createReadStream(file);
  const opened = new Promise<void>((resolve, reject) => {
    input.once('error', reject);
    if (file === '-') resolve();
    else input.once('open', () => resolve());
  });
  await opened.catch((err: Error) => {
    throw new ConfigError(`ledger verify: cannot read ${file}: ${err.message}`);
  });
  const started = performance.now();
  const result = await verifyExport(createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY }), {
    verify: values.portable ? portableVerify : nodeVerify,
    onProgress: (n) => {
      if (n % 100_000 === 0) process.stderr.write(`verified ${n.toLocaleString('en')} lines…\n`);
    },
  });
  // The verdict may come at the first bad line: stop reading the rest of the file.
  if (input !== process.stdin) input.destroy();
  const seconds = (performance.now() - started) / 1000;
  if (values.json) process.stdout.write(`${JSON.stringify({ ...result, seconds })}\n`);
  else process.stdout.write(`${describe(result, seconds)}\n`);
  return result.ok ? 0 : 1;
}

function describe(result: VerifyResult, seconds: number): string {
  if (!result.ok) return `✗ the ledger does not verify — line ${result.line}: ${result.message}`;
  const s = result.summary;
  const lines = [
    `✓ ledger verified in ${seconds.toFixed(2)} s: network "${s.network}", ${s.gateways} gateway${s.gateways === 1 ? '' : 's'}, ${s.entries.toLocaleString('en')} entries`,
    `  ${s.epochs} closed epoch${s.epochs === 1 ? '' : 's'}, ${s.receipts.toLocaleString('en')} co-signed receipts (${s.unsettledReceipts} channel${s.unsettledReceipts === 1 ? '' : 's'} still open), ${s.disputes} dispute${s.disputes === 1 ? '' : 's'}`,
    '  every line canonical, every hash link, every signature and Merkle root checks out; rewards recomputed and equal',
    `  revenue ${formatMicros(s.revenueMicros)}, relays' pool ${formatMicros(s.providerPoolMicros)}`,
  ];
  lines.push(
    `  bytes billed to customers ${s.billedBytes.toLocaleString('en')}, co-signed by relays ${s.cosignedBytes.toLocaleString('en')}` +
      (s.unevenEpochs.count === 0 ? ': every epoch bills exactly what its relays co-signed' : ''),
  );
  if (s.unevenEpochs.count > 0) {
    lines.push(
      `  ! ${s.unevenEpochs.count} epoch${s.unevenEpochs.count === 1 ? '' : 's'} billed other than what the relays co-signed ` +
        '(ledgers written before 2026-11-28 did; since, a gateway crash can, by about a second of traffic):',
    );
    for (const e of s.unevenEpochs.first) {
      const gap = e.billedBytes - e.cosignedBytes;
      lines.push(
        `    epoch ${e.epoch} of ${e.gateway}: ${Math.abs(gap).toLocaleString('en')} bytes ${gap < 0 ? 'fewer' : 'more'} billed than co-signed`,
      );
    }
    if (s.unevenEpochs.count > s.unevenEpochs.first.length)
      lines.push(`    … and ${s.unevenEpochs.count - s.unevenEpochs.first.length} more`);
  }
  const top = Object.entries(s.rewards).sort(([, a], [, b]) => b - a);
  for (const [relay, micros] of top.slice(0, 20)) lines.push(`    ${relay}  ${formatMicros(micros)}`);
  if (top.length > 20) lines.push(`    … and ${top.length - 20} more relays`);
  return lines.join('\n');
}
