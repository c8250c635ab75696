import { randomBytes } from 'node:crypto';
import type { ICryptoInterface } from '@chainsafe/libp2p-noise';
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto';
import { Uint8ArrayList } from 'uint8arraylist';
import { describe, expect, it } from 'vitest';
import { meadowNoiseCrypto } from '../src/noise-crypto.ts';

type Data = Parameters<ICryptoInterface['chaCha20Poly1305Encrypt']>[0];
const asBytes = (data: Uint8Array | { subarray(): Uint8Array }): Buffer => Buffer.from(data.subarray());
/** The same bytes as a list of three parts, the shape yamux hands noise. */
const asList = (bytes: Uint8Array): Data => {
  const a = Math.floor(bytes.byteLength / 3);
  return new Uint8ArrayList(bytes.subarray(0, a), bytes.subarray(a, 2 * a), bytes.subarray(2 * a));
};

const nonce = Buffer.from('000000000000000000000007', 'hex');
const ad = new Uint8Array(0);
// Both sides of the 1 200-byte switch to Node's cipher, and noise's largest message (65 519 bytes + tag).
const SIZES = [0, 100, 1199, 1200, 1201, 5000, 65_519];

describe('meadowNoiseCrypto', () => {
  it("interoperates with noise's default ChaCha20-Poly1305, from bytes and from lists", () => {
    const k = randomBytes(32);
    for (const size of SIZES) {
      const plain = randomBytes(size);
      for (const input of [plain, asList(plain)]) {
        const ours = asBytes(meadowNoiseCrypto.chaCha20Poly1305Encrypt(input, nonce, ad, k));
        const theirs = asBytes(defaultCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k));
        expect(ours.equals(theirs), `ciphertext of ${size} bytes`).toBe(true);
        const back = meadowNoiseCrypto.chaCha20Poly1305Decrypt(asList(theirs), nonce, ad, k);
        expect(asBytes(back).equals(plain), `list decryption of ${size} bytes`).toBe(true);
        const again = meadowNoiseCrypto.chaCha20Poly1305Decrypt(Buffer.from(theirs), nonce, ad, k);
        expect(asBytes(again).equals(plain), `decryption of ${size} bytes`).toBe(true);
      }
    }
  });

  it('rejects a tampered message, a wrong nonce and a wrong key', () => {
    const k = randomBytes(32);
    const sealed = asBytes(meadowNoiseCrypto.chaCha20Poly1305Encrypt(randomBytes(4096), nonce, ad, k));
    const flipped = Buffer.from(sealed);
    flipped[100] = (flipped[100] as number) ^ 1;
    expect(() => meadowNoiseCrypto.chaCha20Poly1305Decrypt(flipped, nonce, ad, k)).toThrow();
    expect(() => meadowNoiseCrypto.chaCha20Poly1305Decrypt(sealed, Buffer.alloc(12), ad, k)).toThrow();
    expect(() => meadowNoiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, ad, randomBytes(32))).toThrow();
  });

  it('uses the new key when a key array is overwritten in place', () => {
    const k = randomBytes(32);
    const plain = randomBytes(2000);
    meadowNoiseCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k); // caches a key object for k
    randomBytes(32).copy(k);
    const sealed = meadowNoiseCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k);
    const expected = defaultCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, Buffer.from(k));
    expect(asBytes(sealed).equals(asBytes(expected))).toBe(true);
  });
});
