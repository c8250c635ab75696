import { describe, expect, it } from 'vitest';
import { exportLedger } from '../src/export.ts';
import { Ledger } from '../src/ledger.ts';
import { SqliteLedgerStore } from '../src/sqlite-store.ts';
import { verifyExport } from '../src/verify.ts';
import { buildHistory, cosign, gatewaySigner, NETWORK, relayA, relayB } from './fixture.ts';

async function summaryOf(store: SqliteLedgerStore) {
  const lines: string[] = [];
  for await (const line of exportLedger(store, { network: NETWORK })) lines.push(line);
  const result = await verifyExport(lines);
  if (!result.ok) throw new Error(result.message);
  return result.summary;
}

describe('the verifier compares the bytes billed with the bytes co-signed', () => {
  it('finds no uneven epoch when each bills what its receipts co-sign', async () => {
    const store = new SqliteLedgerStore(':memory:');
    const ledger = await Ledger.open({ network: NETWORK, feePpm: 50_000 }, { store, signer: gatewaySigner });
    let t = 1_700_000_000_000;
    for (const [relay, bytes] of [
      [relayA, 3_000_000],
      [relayB, 1_000_000],
    ] as const) {
      const counts = { bytesToTarget: bytes / 4, bytesFromTarget: (3 * bytes) / 4, tunnels: 2 };
      await ledger.recordReceipt(cosign(ledger.propose(relay.peerId, counts, t++), relay), { relay: relay.peerId });
    }
    await ledger.closeEpoch({
      startedAt: t - 1_000,
      endedAt: t,
      revenue: [
        { customer: 'c_aaaa', bytes: 2_500_000, priceMicrosPerGb: 2_000_000 },
        { customer: 'c_bbbb', bytes: 1_500_000, priceMicrosPerGb: 1_000_000 },
      ],
    });
    const summary = await summaryOf(store);
    expect(summary).toMatchObject({ billedBytes: 4_000_000, cosignedBytes: 4_000_000 });
    expect(summary.unevenEpochs).toEqual({ count: 0, first: [] });
    await store.close();
  });

  it('names each epoch that billed other than its relays co-signed, and by how much', async () => {
    const store = new SqliteLedgerStore(':memory:');
    await buildHistory(store);
    const summary = await summaryOf(store);
    // The fixture's epochs bill two customers' round figures, unrelated to the receipts' bytes.
    const cosigned = (epoch: number): number =>
      [1, 2, 3].reduce((sum, relay) => sum + 2_000 * relay * epoch + 100_000 * relay, 0);
    const billed = (epoch: number): number => 123_456_789 + 987_654_321 * epoch;
    expect(summary.unevenEpochs).toEqual({
      count: 2,
      first: [1, 2].map((epoch) => ({
        gateway: gatewaySigner.peerId,
        epoch,
        billedBytes: billed(epoch),
        cosignedBytes: cosigned(epoch),
      })),
    });
    expect(summary.billedBytes).toBe(billed(1) + billed(2));
    expect(summary.cosignedBytes).toBe(cosigned(1) + cosigned(2));
    await store.close();
  });
});
