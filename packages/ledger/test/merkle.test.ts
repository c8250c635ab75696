import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../src/canonical.ts';
import { inclusionProof, leafHash, merkleRoot, verifyInclusion } from '../src/merkle.ts';

// The certificate-transparency reference tree (RFC 6962 implementations' shared test data).
const CT_LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];
const CT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

describe('RFC 6962 Merkle tree', () => {
  it('matches the certificate-transparency reference roots for 1 to 8 leaves', () => {
    const leaves = CT_LEAVES.map((hex) => leafHash(fromHex(hex)));
    for (let n = 1; n <= 8; n++) expect(toHex(merkleRoot(leaves.slice(0, n)))).toBe(CT_ROOTS[n - 1]);
  });

  it('gives the empty tree the hash of nothing', () => {
    expect(toHex(merkleRoot([]))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('proves every leaf of every tree up to 40 leaves, and nothing else', () => {
    for (let n = 1; n <= 40; n++) {
      const leaves = Array.from({ length: n }, (_, i) => leafHash(Uint8Array.of(i)));
      const root = merkleRoot(leaves);
      for (let i = 0; i < n; i++) {
        const proof = inclusionProof(leaves, i);
        expect(proof.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)));
        expect(verifyInclusion(leaves[i] as Uint8Array, i, n, proof, root)).toBe(true);
        expect(verifyInclusion(leaves[(i + 1) % n] as Uint8Array, i, n, proof, root)).toBe(n === 1);
        if (n > 1) expect(verifyInclusion(leaves[i] as Uint8Array, (i + 1) % n, n, proof, root)).toBe(false);
        expect(verifyInclusion(leaves[i] as Uint8Array, i, i, proof, root)).toBe(false);
      }
    }
  });

  it('builds level by level exactly the tree RFC 6962 defines recursively', () => {
    const recursive = (leaves: Uint8Array[]): Uint8Array => {
      if (leaves.length === 1) return leaves[0] as Uint8Array;
      let k = 1;
      while (k * 2 < leaves.length) k *= 2;
      return createHash('sha256')
        .update(Uint8Array.of(1))
        .update(recursive(leaves.slice(0, k)))
        .update(recursive(leaves.slice(k)))
        .digest();
    };
    for (let n = 1; n <= 130; n++) {
      const leaves = Array.from({ length: n }, (_, i) => leafHash(Uint8Array.of(i, n)));
      expect(toHex(merkleRoot(leaves))).toBe(toHex(recursive(leaves)));
    }
  });

  it('separates leaves from nodes: an inner node is not accepted as a leaf', () => {
    const leaves = [leafHash(Uint8Array.of(1)), leafHash(Uint8Array.of(2))];
    const root = merkleRoot(leaves);
    const forged = Buffer.concat([leaves[0] as Uint8Array, leaves[1] as Uint8Array]);
    expect(toHex(merkleRoot([leafHash(forged)]))).not.toBe(toHex(root));
  });
});
