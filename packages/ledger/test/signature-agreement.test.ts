import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../src/canonical.ts';
import { createSigner, nodeVerify, portableVerify } from '../src/signatures.ts';

const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function addL(sig: Uint8Array): Uint8Array {
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i] as number);
  s += L;
  const out = Uint8Array.from(sig);
  for (let i = 32; i < 64; i++) {
    out[i] = Number(s & 0xffn);
    s >>= 8n;
  }
  return out;
}

// Every Ed25519 point of small order, canonical and not (the encodings libsodium blocks).
const SMALL_ORDER_KEYS = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000080',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  '0100000000000000000000000000000000000000000000000000000000000080',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

// RFC 8032 §7.1 tests 1-3.
const RFC8032 = [
  {
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    seed: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    publicKey: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature:
      '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
];

interface Case {
  name: string;
  publicKey: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
  valid: boolean;
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const [i, v] of RFC8032.entries()) {
    const publicKey = fromHex(v.publicKey);
    const message = fromHex(v.message);
    const signature = fromHex(v.signature);
    out.push({ name: `RFC 8032 test ${i + 1}`, publicKey, message, signature, valid: true });
    out.push({ name: `RFC 8032 test ${i + 1}, S + L`, publicKey, message, signature: addL(signature), valid: false });
    const flipped = Uint8Array.from(signature);
    flipped[5] = (flipped[5] as number) ^ 1;
    out.push({ name: `RFC 8032 test ${i + 1}, R bit flipped`, publicKey, message, signature: flipped, valid: false });
    out.push({
      name: `RFC 8032 test ${i + 1}, other message`,
      publicKey,
      message: Uint8Array.of(1, ...message),
      signature,
      valid: false,
    });
    for (const r of [
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ]) {
      const nonCanonicalR = Uint8Array.from(signature);
      nonCanonicalR.set(fromHex(r), 0);
      out.push({
        name: `RFC 8032 test ${i + 1}, non-canonical R ${r.slice(0, 4)}`,
        publicKey,
        message,
        signature: nonCanonicalR,
        valid: false,
      });
    }
  }
  for (const key of SMALL_ORDER_KEYS) {
    // R = identity, S = 0 satisfies the plain equation for a small-order key on any message.
    const signature = new Uint8Array(64);
    signature[0] = 1;
    out.push({
      name: `small-order key ${key.slice(0, 8)}…${key.slice(-2)}`,
      publicKey: fromHex(key),
      message: Uint8Array.of(7),
      signature,
      valid: false,
    });
    out.push({
      name: `small-order key ${key.slice(0, 8)}…${key.slice(-2)}, zero signature`,
      publicKey: fromHex(key),
      message: Uint8Array.of(),
      signature: new Uint8Array(64),
      valid: false,
    });
  }
  const signer = createSigner(new Uint8Array(32).fill(9));
  for (let n = 0; n < 32; n++) {
    const message = new Uint8Array(n * 7).fill(n);
    const signature = signer.sign(message);
    out.push({ name: `own signature ${n}`, publicKey: signer.publicKey, message, signature, valid: true });
    out.push({
      name: `own signature ${n}, S + L`,
      publicKey: signer.publicKey,
      message,
      signature: addL(signature),
      valid: false,
    });
  }
  return out;
}

describe('Ed25519: node:crypto on the hot path and @noble/ed25519 (zip215: false) agree', () => {
  it('derives the RFC 8032 public keys and signatures from their seeds', () => {
    for (const v of RFC8032) {
      const signer = createSigner(fromHex(v.seed));
      expect(toHex(signer.publicKey)).toBe(v.publicKey);
      expect(toHex(signer.sign(fromHex(v.message)))).toBe(v.signature);
    }
  });

  it.each(cases().map((c) => [c.name, c] as const))('%s', (_name, c) => {
    expect(nodeVerify(c.publicKey, c.message, c.signature)).toBe(c.valid);
    expect(portableVerify(c.publicKey, c.message, c.signature)).toBe(c.valid);
  });
});
