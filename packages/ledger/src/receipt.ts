import { concatBytes, utf8 } from './canonical.ts';
import { peerIdBytes } from './peer-key.ts';

/** What both ends of a channel (gateway, relay, epoch) agree the relay carried in that epoch so far. */
export interface ReceiptFields {
  network: string;
  epoch: number;
  gateway: string;
  relay: string;
  /** Strictly increasing within a channel; only the highest counts. */
  seq: number;
  bytesToTarget: number;
  bytesFromTarget: number;
  tunnels: number;
  /** Unix milliseconds at which the gateway proposed it. */
  issuedAt: number;
}

export interface SignedReceipt extends ReceiptFields {
  /** Hex Ed25519 signatures over receiptMessage(fields) by the gateway's and the relay's identity keys. */
  gatewaySig: string;
  relaySig: string;
}

export const RECEIPT_DOMAIN = 'meadow-receipt-v1\0';
const NETWORK_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function channelKey(r: Pick<ReceiptFields, 'gateway' | 'relay' | 'epoch'>): string {
  return `${r.gateway}/${r.relay}/${r.epoch}`;
}

/** Throws a TypeError naming the first field that cannot be encoded. */
export function checkReceiptFields(r: ReceiptFields): void {
  if (typeof r.network !== 'string' || !NETWORK_PATTERN.test(r.network))
    throw new TypeError('network must be 1-63 characters of a-z, 0-9 and -');
  for (const key of ['epoch', 'seq', 'bytesToTarget', 'bytesFromTarget', 'tunnels', 'issuedAt'] as const) {
    const v = r[key];
    if (!Number.isSafeInteger(v) || v < 0) throw new TypeError(`${key} must be a non-negative safe integer`);
  }
  if (r.seq < 1) throw new TypeError('seq starts at 1');
  peerIdBytes(r.gateway);
  peerIdBytes(r.relay);
  if (r.gateway === r.relay) throw new TypeError('gateway and relay are the same peer');
}

/**
 * The bytes both parties sign (docs/receipts.md):
 * "meadow-receipt-v1\0" | u8 len | network | u64 epoch | gateway peer id (38) | relay peer id (38)
 * | u64 seq | u64 bytesToTarget | u64 bytesFromTarget | u64 tunnels | u64 issuedAt — big-endian.
 */
export function receiptMessage(r: ReceiptFields): Uint8Array {
  checkReceiptFields(r);
  const network = utf8(r.network);
  const epoch = new DataView(new ArrayBuffer(8));
  epoch.setBigUint64(0, BigInt(r.epoch));
  const tail = new DataView(new ArrayBuffer(8 * 5));
  const putTail = (i: number, v: number): void => tail.setBigUint64(i * 8, BigInt(v));
  putTail(0, r.seq);
  putTail(1, r.bytesToTarget);
  putTail(2, r.bytesFromTarget);
  putTail(3, r.tunnels);
  putTail(4, r.issuedAt);
  return concatBytes(
    utf8(RECEIPT_DOMAIN),
    Uint8Array.of(network.length),
    network,
    new Uint8Array(epoch.buffer),
    peerIdBytes(r.gateway),
    peerIdBytes(r.relay),
    new Uint8Array(tail.buffer),
  );
}

export function receiptFields(r: ReceiptFields): ReceiptFields {
  const { network, epoch, gateway, relay, seq, bytesToTarget, bytesFromTarget, tunnels, issuedAt } = r;
  return { network, epoch, gateway, relay, seq, bytesToTarget, bytesFromTarget, tunnels, issuedAt };
}

export function receiptBytes(r: Pick<ReceiptFields, 'bytesToTarget' | 'bytesFromTarget'>): number {
  return r.bytesToTarget + r.bytesFromTarget;
}
