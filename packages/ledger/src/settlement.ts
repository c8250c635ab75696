import { fromHex } from './canonical.ts';
import { receiptLeaf } from './chain.ts';
import { epochMessage } from './entries.ts';
import type { Settlement } from './ledger.ts';
import { verifyInclusion } from './merkle.ts';
import { peerPublicKey } from './peer-key.ts';
import { receiptMessage } from './receipt.ts';
import { portableVerify, type VerifyFn } from './signatures.ts';

export type SettlementCheck = { ok: true; micros: number; bytes: number } | { ok: false; problem: string };

/**
 * What a relay checks by itself: the epoch header is signed by the gateway, its receipt carries
 * both signatures and is a leaf of the header's Merkle root, and the reward line matches the receipt.
 */
export function checkSettlement(
  settlement: Settlement,
  relay: string,
  verify: VerifyFn = portableVerify,
): SettlementCheck {
  const { header, receipt, leafIndex, proof } = settlement;
  if (receipt.relay !== relay) return { ok: false, problem: `the receipt is for relay ${receipt.relay}, not ${relay}` };
  if (receipt.gateway !== header.gateway || receipt.epoch !== header.epoch || receipt.network !== header.network)
    return { ok: false, problem: 'the receipt belongs to a different epoch, gateway or network than the header' };
  if (!verify(peerPublicKey(header.gateway), epochMessage(header), fromHex(header.gatewaySig, 64)))
    return { ok: false, problem: `the gateway's signature on epoch ${header.epoch} does not verify` };
  const message = receiptMessage(receipt);
  if (!verify(peerPublicKey(receipt.gateway), message, fromHex(receipt.gatewaySig, 64)))
    return { ok: false, problem: 'the gateway signature on the receipt does not verify' };
  if (!verify(peerPublicKey(relay), message, fromHex(receipt.relaySig, 64)))
    return { ok: false, problem: 'the relay signature on the receipt does not verify' };
  const included = verifyInclusion(
    receiptLeaf(receipt),
    leafIndex,
    header.receipts,
    proof.map((p) => fromHex(p, 32)),
    fromHex(header.merkleRoot, 32),
  );
  if (!included) return { ok: false, problem: `the inclusion proof does not lead to epoch ${header.epoch}'s root` };
  const line = header.rewards.find((r) => r.relay === relay);
  const bytes = receipt.bytesToTarget + receipt.bytesFromTarget;
  // A channel that only counted tunnels (opened, nothing moved yet) is in the tree but earns no reward line.
  if (line == null && bytes === 0) return { ok: true, micros: 0, bytes: 0 };
  if (line == null || line.bytes !== bytes)
    return { ok: false, problem: `the header's reward line does not match the receipt's ${bytes} bytes` };
  return { ok: true, micros: line.micros, bytes };
}
