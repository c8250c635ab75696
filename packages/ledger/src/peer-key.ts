import { base58btc } from 'multiformats/bases/base58';

/**
 * An Ed25519 libp2p peer id embeds its public key: base58btc of the identity multihash
 * 0x00 0x24 | protobuf { 0x08 0x01 (Ed25519), 0x12 0x20, 32-byte key }. Decoding it here keeps
 * the verifier free of libp2p: any receipt can be checked from the peer ids alone.
 */
const PREFIX = Uint8Array.of(0x00, 0x24, 0x08, 0x01, 0x12, 0x20);

const decoded = new Map<string, Uint8Array>();

export function peerIdBytes(peerId: string): Uint8Array {
  const known = decoded.get(peerId);
  if (known != null) return known;
  const bytes = decodePeerId(peerId);
  // A ledger names a bounded set of peers; the cache only saves re-decoding them per receipt.
  if (decoded.size >= 100_000) decoded.clear();
  decoded.set(peerId, bytes);
  return bytes;
}

function decodePeerId(peerId: string): Uint8Array {
  if (!/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/.test(peerId))
    throw new TypeError(`"${peerId.slice(0, 60)}" is not an Ed25519 peer id`);
  const bytes = base58btc.decode(`z${peerId}`);
  if (bytes.length !== 38 || !PREFIX.every((b, i) => bytes[i] === b))
    throw new TypeError(`"${peerId}" is not an Ed25519 peer id`);
  return bytes;
}

export function peerPublicKey(peerId: string): Uint8Array {
  return peerIdBytes(peerId).subarray(6);
}

export function peerIdFromPublicKey(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new TypeError('an Ed25519 public key is 32 bytes');
  const bytes = new Uint8Array(38);
  bytes.set(PREFIX);
  bytes.set(publicKey, 6);
  return base58btc.encode(bytes).slice(1);
}
