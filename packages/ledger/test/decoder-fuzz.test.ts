import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../src/canonical.ts';
import { exportLedger } from '../src/export.ts';
import { SqliteLedgerStore } from '../src/sqlite-store.ts';
import { verifyExport } from '../src/verify.ts';
import { requestSchema, responseSchema } from '../src/wire.ts';
import { buildHistory, NETWORK } from './fixture.ts';

describe('receipt and ledger decoders under arbitrary input', () => {
  it('the export verifier answers any input with a verdict naming a line, never a crash', async () => {
    const line = fc.oneof(fc.string({ maxLength: 200 }), fc.json({ maxDepth: 3 }));
    await fc.assert(
      fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 6 }), async (lines) => {
        const result = await verifyExport(lines);
        if (!result.ok) expect(result.line).toBeGreaterThan(0);
      }),
      { numRuns: 500 },
    );
  });

  it('any entry of a real export, with one field replaced by an arbitrary value, is refused', async () => {
    const store = new SqliteLedgerStore(':memory:');
    await buildHistory(store);
    const lines: string[] = [];
    for await (const l of exportLedger(store, { network: NETWORK })) lines.push(l);
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: lines.length - 2 }), fc.jsonValue(), fc.nat(), async (index, value, pick) => {
        const entry = JSON.parse(lines[index + 1] as string) as { body: Record<string, unknown> };
        const fields = Object.keys(entry.body);
        const field = fields[pick % fields.length] as string;
        if (JSON.stringify(entry.body[field] ?? null) === JSON.stringify(value)) return;
        entry.body[field] = value;
        const tampered = [...lines];
        // Values canonical JSON cannot hold (floats, -0) can only appear in a non-canonical line.
        let line: string;
        try {
          line = canonicalJson(entry);
        } catch {
          line = JSON.stringify(entry);
        }
        tampered[index + 1] = line;
        const result = await verifyExport(tampered);
        expect(result.ok).toBe(false);
      }),
      { numRuns: 200 },
    );
    await store.close();
  });

  it('the receipt protocol schemas accept or refuse any JSON without throwing', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(typeof requestSchema.safeParse(value).success).toBe('boolean');
        expect(typeof responseSchema.safeParse(value).success).toBe('boolean');
      }),
      { numRuns: 1_000 },
    );
  });
});
