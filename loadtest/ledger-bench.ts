/**
 * The ledger's performance on one core of this machine (a benchmark, not a test).
 *
 *   npx -y pnpm@12.4.2 loadtest:ledger [--receipts 1000000] [--ingest 20000]
 *
 * 1. Ingest: co-signed receipts recorded by a gateway ledger into a SQLite file (every receipt
 *    signature-checked and fsynced before the next), per second.
 * 2. Verify: an export of --receipts receipts (500 relays, 100 receipts per channel per epoch, with
 *    revenue lines and signed epoch headers) re-checked from scratch by `verifyExport`: with
 *    node:crypto (what `meadow ledger verify` uses) and with the portable @noble/ed25519 verifier
 *    on a 20 000-receipt export.
 * 3. Inclusion proofs: size, build, prove and verify times for epochs of 10^3 … 10^6 channels.
 */

import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  createSigner,
  exportLedger,
  Ledger,
  leafHash,
  nodeVerify,
  portableVerify,
  receiptMessage,
  type SignedReceipt,
  SqliteLedgerStore,
  toHex,
  verifyExport,
  verifyInclusion,
} from '@meadow/ledger';
import { MerkleTree } from '../packages/ledger/src/merkle.ts';
import { scriptArgs } from './lib/args.ts';

const { values } = parseArgs({
  args: scriptArgs(),
  options: { receipts: { type: 'string' }, ingest: { type: 'string' } },
});
const TOTAL = Number(values.receipts ?? 1_000_000);
const INGEST = Number(values.ingest ?? 20_000);
const RELAYS = 500;
const ROUNDS = 100;

const say = (text: string): void => {
  process.stdout.write(`${text}\n`);
};
const gateway = createSigner(new Uint8Array(32).fill(1));
const relays = Array.from({ length: RELAYS }, (_, i) => {
  const seed = new Uint8Array(32);
  new DataView(seed.buffer).setUint32(0, i + 2);
  return createSigner(seed);
});

function cosign(ledger: Ledger, relayIndex: number, round: number, t: number): SignedReceipt {
  const relay = relays[relayIndex] as (typeof relays)[0];
  const counts = {
    bytesToTarget: round * 1_000 * (relayIndex + 1),
    bytesFromTarget: round * 20_000 * (relayIndex + 1),
    tunnels: round,
  };
  const proposal = ledger.propose(relay.peerId, counts, t);
  return { ...proposal, relaySig: toHex(relay.sign(receiptMessage(proposal))) };
}

async function ingest(dir: string): Promise<string[]> {
  const store = new SqliteLedgerStore(join(dir, 'ingest.db'));
  const ledger = await Ledger.open({ network: 'bench', feePpm: 50_000 }, { store, signer: gateway });
  const receipts: SignedReceipt[] = [];
  for (let i = 0; i < INGEST; i++) receipts.push(cosign(ledger, i % RELAYS, Math.floor(i / RELAYS) + 1, i));
  // As in a gateway's receipt round: up to 32 relays answer at once, and their receipts share a commit.
  const started = performance.now();
  for (let i = 0; i < receipts.length; i += 32)
    await Promise.all(receipts.slice(i, i + 32).map((r) => ledger.recordReceipt(r, { relay: r.relay })));
  const seconds = (performance.now() - started) / 1000;
  const single = receipts.length;
  const one = await Ledger.open(
    { network: 'bench', feePpm: 50_000 },
    { store: new SqliteLedgerStore(join(dir, 'one.db')), signer: gateway },
  );
  const oneByOne = Array.from({ length: 1_000 }, (_, i) => cosign(one, i % RELAYS, 1 + Math.floor(i / RELAYS), i));
  const t1 = performance.now();
  for (const r of oneByOne) await one.recordReceipt(r, { relay: r.relay });
  const perSync = (performance.now() - t1) / 1000 / oneByOne.length;
  await one.store.close();
  const sig = performance.now();
  for (const r of receipts.slice(0, 5_000)) {
    const m = receiptMessage(r);
    nodeVerify(gateway.publicKey, m, Buffer.from(r.gatewaySig, 'hex'));
  }
  const verifyMicros = ((performance.now() - sig) * 1000) / 5_000;
  await store.close();
  return [
    `| ingest, 32 receipts in flight (SQLite file, group commit, both signatures checked) | ${single.toLocaleString('en')} receipts in ${seconds.toFixed(2)} s | **${Math.round(single / seconds).toLocaleString('en')} receipts/s** (${((seconds * 1e6) / single).toFixed(0)} µs each, of which 2 × ${verifyMicros.toFixed(0)} µs signature checks) |`,
    `| ingest, one at a time (one fsync per receipt) | 1,000 receipts | ${Math.round(1 / perSync).toLocaleString('en')} receipts/s (${(perSync * 1e6).toFixed(0)} µs each) |`,
  ];
}

async function buildExport(
  dir: string,
  total: number,
  name: string,
): Promise<{ file: string; bytes: number; seconds: number }> {
  const store = new SqliteLedgerStore(':memory:');
  // The gateway trusts its own appends here: this builds the input; verification is what is measured.
  const ledger = await Ledger.open(
    { network: 'bench', feePpm: 50_000 },
    { store, signer: gateway, verify: () => true },
  );
  const epochs = Math.max(1, Math.round(total / (RELAYS * ROUNDS)));
  const started = performance.now();
  let t = 1_767_225_600_000;
  let done = 0;
  for (let epoch = 0; epoch < epochs && done < total; epoch++) {
    for (let round = 1; round <= ROUNDS && done < total; round++) {
      for (let r = 0; r < RELAYS && done < total; r++, done++)
        await ledger.recordReceipt(cosign(ledger, r, round, t++), { relay: (relays[r] as (typeof relays)[0]).peerId });
    }
    await ledger.closeEpoch({
      startedAt: t - 3_600_000,
      endedAt: t,
      revenue: Array.from({ length: 20 }, (_, c) => ({
        customer: `c_${c}`,
        bytes: 1e9 * (c + 1),
        priceMicrosPerGb: 1_500_000,
      })),
    });
    if (total >= 100_000) process.stderr.write(`  built ${done.toLocaleString('en')} receipts…\n`);
  }
  const file = join(dir, name);
  const out = createWriteStream(file);
  for await (const line of exportLedger(store, { network: 'bench' }))
    if (!out.write(`${line}\n`)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
  await store.close();
  return { file, bytes: (await stat(file)).size, seconds: (performance.now() - started) / 1000 };
}

async function verifyFile(
  file: string,
  verify: typeof nodeVerify,
): Promise<{ seconds: number; ok: boolean; receipts: number }> {
  const started = performance.now();
  const result = await verifyExport(
    createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY }),
    {
      verify,
      onProgress: (n) => {
        if (n % 200_000 === 0) process.stderr.write(`  verified ${n.toLocaleString('en')} lines…\n`);
      },
    },
  );
  if (!result.ok) throw new Error(`the benchmark export does not verify: line ${result.line}: ${result.message}`);
  return { seconds: (performance.now() - started) / 1000, ok: result.ok, receipts: result.summary.receipts };
}

function proofs(): string[] {
  const rows: string[] = [];
  for (const n of [1_000, 10_000, 100_000, 1_000_000]) {
    const leaves = Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`receipt ${i}`)));
    let started = performance.now();
    const tree = new MerkleTree(leaves);
    const root = tree.root();
    const buildMs = performance.now() - started;
    const samples = 1_000;
    const indexes = Array.from({ length: samples }, (_, i) => Math.floor((i * n) / samples));
    started = performance.now();
    const paths = indexes.map((i) => tree.proof(i));
    const proveMicros = ((performance.now() - started) * 1000) / samples;
    started = performance.now();
    for (const [k, i] of indexes.entries()) {
      if (!verifyInclusion(leaves[i] as Uint8Array, i, n, paths[k] as Uint8Array[], root))
        throw new Error('proof failed');
    }
    const verifyMicros = ((performance.now() - started) * 1000) / samples;
    const size = Math.max(...paths.map((p) => p.length)) * 32;
    rows.push(
      `| ${n.toLocaleString('en')} | ${size} B (${size / 32} hashes) | ${buildMs.toFixed(0)} ms | ${proveMicros.toFixed(1)} µs | ${verifyMicros.toFixed(1)} µs |`,
    );
  }
  return rows;
}

const dir = await mkdtemp(join(tmpdir(), 'meadow-ledger-bench-'));
try {
  say(`# Ledger benchmark (${new Date().toISOString()}, Node ${process.version}, one process = one core)\n`);
  say('| what | measured | figure |\n|---|---|---|');
  for (const row of await ingest(dir)) say(row);
  process.stderr.write(`building an export of ${TOTAL.toLocaleString('en')} receipts…\n`);
  const big = await buildExport(dir, TOTAL, 'big.jsonl');
  const fast = await verifyFile(big.file, nodeVerify);
  say(
    `| verify an export (node:crypto, \`meadow ledger verify\`) | ${fast.receipts.toLocaleString('en')} receipts, ${(big.bytes / 1e6).toFixed(0)} MB | **${fast.seconds.toFixed(1)} s** (${Math.round(fast.receipts / fast.seconds).toLocaleString('en')} receipts/s) |`,
  );
  const small = await buildExport(dir, 20_000, 'small.jsonl');
  const portable = await verifyFile(small.file, portableVerify);
  say(
    `| verify an export (@noble/ed25519, \`--portable\`) | ${portable.receipts.toLocaleString('en')} receipts | ${portable.seconds.toFixed(1)} s (${Math.round(portable.receipts / portable.seconds).toLocaleString('en')} receipts/s) |`,
  );
  say(
    '\n| channels in the epoch | inclusion proof | build tree | make a proof | check a proof |\n|---|---|---|---|---|',
  );
  for (const row of proofs()) say(row);
} finally {
  await rm(dir, { recursive: true, force: true });
}
