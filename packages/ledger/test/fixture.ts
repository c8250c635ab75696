import { toHex } from '../src/canonical.ts';
import { type DisputeBody, disputeMessage } from '../src/entries.ts';
import { Ledger } from '../src/ledger.ts';
import { type ReceiptFields, receiptMessage, type SignedReceipt } from '../src/receipt.ts';
import { createSigner, type Signer } from '../src/signatures.ts';
import type { LedgerStore } from '../src/store.ts';

export const NETWORK = 'meadow-test';
export const gatewaySigner = createSigner(new Uint8Array(32).fill(1));
export const relaySigners = [2, 3, 4].map((n) => createSigner(new Uint8Array(32).fill(n)));
export const [relayA, relayB, relayC] = relaySigners as [Signer, Signer, Signer];

export function cosign(proposal: ReceiptFields & { gatewaySig: string }, relay: Signer): SignedReceipt {
  return { ...proposal, relaySig: toHex(relay.sign(receiptMessage(proposal))) };
}

export function signedDispute(fields: Omit<DisputeBody, 'relaySig'>, relay: Signer): DisputeBody {
  return { ...fields, relaySig: toHex(relay.sign(disputeMessage(fields))) };
}

/** Two closed epochs (three relays, two customers, one dispute) and an open one with a receipt. */
export async function buildHistory(store: LedgerStore): Promise<Ledger> {
  const ledger = await Ledger.open({ network: NETWORK, feePpm: 50_000 }, { store, signer: gatewaySigner });
  let t = 1_700_000_000_000;
  for (let epoch = 1; epoch <= 2; epoch++) {
    for (const [i, relay] of relaySigners.entries()) {
      for (let round = 1; round <= 2; round++) {
        const counts = {
          bytesToTarget: 1_000 * round * (i + 1) * epoch,
          bytesFromTarget: 50_000 * round * (i + 1),
          tunnels: round,
        };
        await ledger.recordReceipt(cosign(ledger.propose(relay.peerId, counts, t++), relay), { relay: relay.peerId });
      }
    }
    if (epoch === 1) {
      await ledger.recordDispute(
        signedDispute(
          {
            network: NETWORK,
            epoch: 1,
            gateway: gatewaySigner.peerId,
            relay: relayC.peerId,
            seq: 9,
            proposed: { bytesToTarget: 1, bytesFromTarget: 1, tunnels: 1 },
            relayCount: { bytesToTarget: 90_000_000, bytesFromTarget: 1, tunnels: 1 },
            reason: 'bytesToTarget differs beyond the tolerance',
          },
          relayC,
        ),
      );
    }
    await ledger.closeEpoch({
      startedAt: t - 1_000,
      endedAt: t,
      revenue: [
        { customer: 'c_aaaa', bytes: 123_456_789, priceMicrosPerGb: 2_000_000 },
        { customer: 'c_bbbb', bytes: 987_654_321 * epoch, priceMicrosPerGb: 1_500_000 },
      ],
    });
  }
  await ledger.recordReceipt(
    cosign(ledger.propose(relayA.peerId, { bytesToTarget: 5, bytesFromTarget: 6, tunnels: 1 }, t++), relayA),
    { relay: relayA.peerId },
  );
  return ledger;
}
