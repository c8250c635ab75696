import { canonicalJson } from './canonical.ts';
import { ChainRules, LedgerRejection, type RejectReason } from './chain.ts';
import type { EpochHeader, LedgerEntry, RevenueBody } from './entries.ts';
import { bodySchemas, describeZodError, entrySchema, exportHeaderSchema } from './schema.ts';
import { portableVerify, type VerifyFn } from './signatures.ts';

export interface VerifySummary {
  network: string;
  gateways: number;
  entries: number;
  receipts: number;
  disputes: number;
  epochs: number;
  revenueMicros: number;
  providerPoolMicros: number;
  /** Micro-units each relay earned over every closed epoch in the export. */
  rewards: Record<string, number>;
  /** Receipts in epochs that are still open at the end of the export (not yet settled). */
  unsettledReceipts: number;
  /** Payload bytes of closed epochs: billed to customers (revenue lines) and co-signed by relays (rewards). */
  billedBytes: number;
  cosignedBytes: number;
  /**
   * Closed epochs whose revenue lines bill other than the bytes their receipts co-sign. Not a
   * failure: ledgers written before 2026-11-28 billed customers' live counters, and a gateway that
   * crashed can lose up to a second of either side. Fewer bytes billed than co-signed is what a
   * gateway keeping revenue from its relays would show.
   */
  unevenEpochs: { count: number; first: UnevenEpoch[] };
}

export interface UnevenEpoch {
  gateway: string;
  epoch: number;
  billedBytes: number;
  cosignedBytes: number;
}

const UNEVEN_LISTED = 20;

export type VerifyResult =
  | { ok: true; summary: VerifySummary }
  | {
      ok: false;
      line: number;
      reason: RejectReason | 'bad-json' | 'not-canonical' | 'bad-header' | 'reordered';
      message: string;
    };

/**
 * Re-checks an export from first principles: every line canonical, every chain link and hash,
 * every signature (with the portable @noble/ed25519 verifier by default), every Merkle root, and
 * every epoch's rewards recomputed. Stops at the first problem and names its line.
 */
export async function verifyExport(
  lines: AsyncIterable<string> | Iterable<string>,
  options: { verify?: VerifyFn; onProgress?: (linesDone: number) => void } = {},
): Promise<VerifyResult> {
  const verify = options.verify ?? portableVerify;
  let lineNo = 0;
  let network: string | undefined;
  const chains = new Map<string, ChainRules>();
  const finished = new Set<string>();
  let current: ChainRules | undefined;
  const summary: VerifySummary = {
    network: '',
    gateways: 0,
    entries: 0,
    receipts: 0,
    disputes: 0,
    epochs: 0,
    revenueMicros: 0,
    providerPoolMicros: 0,
    rewards: {},
    unsettledReceipts: 0,
    billedBytes: 0,
    cosignedBytes: 0,
    unevenEpochs: { count: 0, first: [] },
  };
  let billedInEpoch = 0;
  for await (const line of lines) {
    lineNo++;
    if (line === '' && lineNo > 1) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      return { ok: false, line: lineNo, reason: 'bad-json', message: (err as Error).message };
    }
    let canonical: string;
    try {
      canonical = canonicalJson(value);
    } catch (err) {
      return { ok: false, line: lineNo, reason: 'not-canonical', message: (err as Error).message };
    }
    if (canonical !== line)
      return {
        ok: false,
        line: lineNo,
        reason: 'not-canonical',
        message: 'the line is not in canonical form (changed or re-serialised)',
      };
    if (network == null) {
      const header = exportHeaderSchema.safeParse(value);
      if (!header.success)
        return { ok: false, line: lineNo, reason: 'bad-header', message: describeZodError(header.error) };
      network = header.data.network;
      summary.network = network;
      continue;
    }
    const parsed = entrySchema.safeParse(value);
    if (!parsed.success)
      return { ok: false, line: lineNo, reason: 'malformed', message: describeZodError(parsed.error) };
    const entry = parsed.data as unknown as LedgerEntry;
    const body = bodySchemas[entry.kind].safeParse(entry.body);
    if (!body.success)
      return { ok: false, line: lineNo, reason: 'malformed', message: `${entry.kind} ${describeZodError(body.error)}` };
    if (current?.gateway !== entry.gateway) {
      if (current != null) finished.add(current.gateway);
      if (finished.has(entry.gateway))
        return {
          ok: false,
          line: lineNo,
          reason: 'reordered',
          message: `gateway ${entry.gateway}'s chain continues after another chain began`,
        };
      current = new ChainRules({ gateway: entry.gateway, network, verify });
      chains.set(entry.gateway, current);
      billedInEpoch = 0;
    }
    try {
      current.accept(entry);
    } catch (err) {
      if (err instanceof LedgerRejection) return { ok: false, line: lineNo, reason: err.reason, message: err.message };
      throw err;
    }
    summary.entries++;
    if (entry.kind === 'receipt') summary.receipts++;
    if (entry.kind === 'dispute') summary.disputes++;
    if (entry.kind === 'revenue') billedInEpoch += (entry.body as RevenueBody).bytes;
    if (entry.kind === 'epoch') {
      const header = entry.body as EpochHeader;
      summary.epochs++;
      summary.revenueMicros += header.revenueMicros;
      summary.providerPoolMicros += header.providerPoolMicros;
      for (const r of header.rewards) summary.rewards[r.relay] = (summary.rewards[r.relay] ?? 0) + r.micros;
      const cosigned = header.rewards.reduce((sum, r) => sum + r.bytes, 0);
      summary.billedBytes += billedInEpoch;
      summary.cosignedBytes += cosigned;
      if (billedInEpoch !== cosigned) {
        summary.unevenEpochs.count++;
        if (summary.unevenEpochs.first.length < UNEVEN_LISTED)
          summary.unevenEpochs.first.push({
            gateway: entry.gateway,
            epoch: header.epoch,
            billedBytes: billedInEpoch,
            cosignedBytes: cosigned,
          });
      }
      billedInEpoch = 0;
    }
    if (lineNo % 10_000 === 0) options.onProgress?.(lineNo);
  }
  if (network == null) return { ok: false, line: 1, reason: 'bad-header', message: 'the export is empty' };
  summary.gateways = chains.size;
  for (const chain of chains.values()) summary.unsettledReceipts += chain.channels.size;
  return { ok: true, summary };
}
