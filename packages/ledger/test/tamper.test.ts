import { beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson, toHex } from '../src/canonical.ts';
import { entryHash, type LedgerEntry } from '../src/entries.ts';
import { exportLedger } from '../src/export.ts';
import { nodeVerify, type VerifyFn } from '../src/signatures.ts';
import { SqliteLedgerStore } from '../src/sqlite-store.ts';
import { verifyExport } from '../src/verify.ts';
import { buildHistory, NETWORK, relayB } from './fixture.ts';

const lines: string[] = [];

beforeAll(async () => {
  const store = new SqliteLedgerStore(':memory:');
  await buildHistory(store);
  for await (const line of exportLedger(store, { network: NETWORK })) lines.push(line);
  await store.close();
});

const parse = (line: string): LedgerEntry => JSON.parse(line);

/** What a forger does after editing entries: re-link the chain so only the edit itself can give it away. */
function relink(entries: LedgerEntry[]): string[] {
  let prev = '0'.repeat(64);
  return entries.map((entry, index) => {
    const unhashed = { ...entry, index, prev };
    const next = { ...unhashed, hash: entryHash(unhashed) };
    prev = next.hash;
    return canonicalJson(next);
  });
}

function edited(edit: (entries: LedgerEntry[]) => void): string[] {
  const entries = lines.slice(1).map(parse);
  edit(entries);
  return [lines[0] as string, ...relink(entries)];
}

const indexOfKind = (kind: string, nth = 0): number =>
  lines
    .slice(1)
    .map(parse)
    .map((e, i) => (e.kind === kind ? i : -1))
    .filter((i) => i >= 0)[nth] as number;

describe('meadow ledger verify detects tampering', () => {
  it('accepts the untouched export', async () => {
    expect(await verifyExport(lines)).toMatchObject({ ok: true });
  });

  it('detects a flipped bit in every byte of the export, naming a line', async () => {
    const text = `${lines.join('\n')}\n`;
    // Memoised so that unchanged lines are not re-verified thousands of times; the rules are the same.
    const seen = new Map<string, boolean>();
    const verify: VerifyFn = (k, m, s) => {
      const id = toHex(k) + toHex(s) + Buffer.from(m).toString('base64');
      const known = seen.get(id);
      if (known !== undefined) return known;
      const ok = nodeVerify(k, m, s);
      seen.set(id, ok);
      return ok;
    };
    const bytes = Buffer.from(text);
    let detected = 0;
    for (let i = 0; i < bytes.length; i++) {
      const copy = Buffer.from(bytes);
      copy[i] = (copy[i] as number) ^ 0x01;
      const result = await verifyExport(copy.toString('latin1').split('\n'), { verify });
      if (result.ok) throw new Error(`flipping byte ${i} went unnoticed`);
      expect(result.line).toBeGreaterThan(0);
      detected++;
    }
    expect(detected).toBe(bytes.length);
  });

  it('detects a dropped entry', async () => {
    const dropped = [...lines.slice(0, 3), ...lines.slice(4)];
    expect(await verifyExport(dropped)).toMatchObject({ ok: false, line: 4, reason: 'bad-index' });
  });

  it('detects two entries swapped', async () => {
    const swapped = [...lines];
    [swapped[2], swapped[3]] = [swapped[3] as string, swapped[2] as string];
    expect(await verifyExport(swapped)).toMatchObject({ ok: false, line: 3, reason: 'bad-index' });
  });

  it('detects a forged relay signature even when the chain is re-linked', async () => {
    const i = indexOfKind('receipt', 1);
    const forged = edited((entries) => {
      const body = (entries[i] as LedgerEntry<'receipt'>).body;
      body.relaySig = toHex(relayB.sign(Buffer.from('something else')));
    });
    expect(await verifyExport(forged)).toMatchObject({ ok: false, line: i + 2, reason: 'bad-relay-signature' });
  });

  it('detects a replayed receipt', async () => {
    const i = indexOfKind('receipt', 1);
    const replayed = edited((entries) => entries.splice(i + 2, 0, structuredClone(entries[i] as LedgerEntry)));
    expect(await verifyExport(replayed)).toMatchObject({ ok: false, line: i + 4, reason: 'stale-seq' });
  });

  it('detects a receipt claimed for another relay', async () => {
    const i = indexOfKind('receipt', 0);
    const claimed = edited((entries) => {
      (entries[i] as LedgerEntry<'receipt'>).body.relay = relayB.peerId;
    });
    expect(await verifyExport(claimed)).toMatchObject({ ok: false, line: i + 2, reason: 'bad-gateway-signature' });
  });

  it("detects a relay's count inflated after signing", async () => {
    const i = indexOfKind('receipt', 3);
    const inflated = edited((entries) => {
      (entries[i] as LedgerEntry<'receipt'>).body.bytesFromTarget += 10_000_000;
    });
    expect(await verifyExport(inflated)).toMatchObject({ ok: false, line: i + 2, reason: 'bad-gateway-signature' });
  });

  it('detects the same channel claimed again in a later epoch', async () => {
    const r = indexOfKind('receipt', 0);
    const firstHeader = indexOfKind('epoch', 0);
    const twice = edited((entries) => entries.splice(firstHeader + 1, 0, structuredClone(entries[r] as LedgerEntry)));
    expect(await verifyExport(twice)).toMatchObject({ ok: false, line: firstHeader + 3, reason: 'closed-epoch' });
  });

  it('detects a changed revenue line through the epoch header it feeds', async () => {
    const i = indexOfKind('revenue', 0);
    const cheaper = edited((entries) => {
      const body = (entries[i] as LedgerEntry<'revenue'>).body;
      body.bytes = 1;
      body.micros = 0;
    });
    expect(await verifyExport(cheaper)).toMatchObject({ ok: false, reason: 'bad-chain-head' });
  });

  it('detects a richer reward line in a signed epoch header', async () => {
    const i = indexOfKind('epoch', 1);
    const richer = edited((entries) => {
      const rewards = (entries[i] as LedgerEntry<'epoch'>).body.rewards;
      (rewards[0] as { micros: number }).micros += 1_000;
    });
    expect(await verifyExport(richer)).toMatchObject({ ok: false, line: i + 2, reason: 'bad-epoch-signature' });
  });
});
