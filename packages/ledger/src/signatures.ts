import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { peerIdFromPublicKey } from './peer-key.ts';

ed.hashes.sha512 = sha512;

/** Verifies an Ed25519 signature; both implementations follow RFC 8032 strictly and agree on every vector. */
export type VerifyFn = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

export interface Signer {
  peerId: string;
  publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** A signer from a libp2p Ed25519 private key's raw bytes (32-byte seed, or 64-byte seed ‖ public key). */
export function createSigner(rawPrivateKey: Uint8Array): Signer {
  if (rawPrivateKey.length !== 32 && rawPrivateKey.length !== 64)
    throw new TypeError('an Ed25519 private key is 32 or 64 bytes');
  const key = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, rawPrivateKey.subarray(0, 32)]),
    format: 'der',
    type: 'pkcs8',
  });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  const publicKey = new Uint8Array(spki.subarray(SPKI_PREFIX.length));
  return {
    peerId: peerIdFromPublicKey(publicKey),
    publicKey,
    sign: (message) => new Uint8Array(sign(null, message, key)),
  };
}

/** The portable verifier: @noble/ed25519 with ZIP-215 off (canonical encodings, no small-order keys). */
export const portableVerify: VerifyFn = (publicKey, message, signature) => {
  try {
    return ed.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
};

// The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian.
const L_BYTES = Buffer.from('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010', 'hex');
const keyCache = new Map<string, KeyObject | null>();

/**
 * The hot-path verifier: node:crypto (OpenSSL). The strict rules are enforced here rather than left
 * to whichever OpenSSL build Node links: S below the group order, canonical R, and each public key
 * vetted once (canonical, not of small order) and cached.
 */
export const nodeVerify: VerifyFn = (publicKey, message, signature) => {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  if (!scalarBelowOrder(signature) || !canonicalR(signature)) return false;
  const key = vettedKey(publicKey);
  if (key == null) return false;
  return verify(null, message, key, signature);
};

function vettedKey(publicKey: Uint8Array): KeyObject | null {
  const id = Buffer.from(publicKey).toString('hex');
  let key = keyCache.get(id);
  if (key !== undefined) return key;
  key = null;
  try {
    const point = ed.Point.fromBytes(publicKey, false);
    if (!point.isSmallOrder())
      key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
  } catch {
    key = null;
  }
  if (keyCache.size > 10_000) keyCache.clear();
  keyCache.set(id, key);
  return key;
}

/** S (bytes 32..63, little-endian) < L, compared from the most significant byte. */
function scalarBelowOrder(signature: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const s = signature[32 + i] as number;
    const l = L_BYTES[i] as number;
    if (s !== l) return s < l;
  }
  return false;
}

/** R's y (bytes 0..31, top bit = sign of x) < p = 2^255 − 19: only 0x7fff…ffed and above are not. */
function canonicalR(signature: Uint8Array): boolean {
  if (((signature[31] as number) & 0x7f) !== 0x7f) return true;
  for (let i = 30; i >= 1; i--) if (signature[i] !== 0xff) return true;
  return (signature[0] as number) < 0xed;
}
