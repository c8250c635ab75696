import { createHash } from 'node:crypto';

/** RFC 6962 Merkle tree hash (sha256, 0x00 leaf and 0x01 node prefixes), inclusion proofs per RFC 9162 §2.1.3. */
export function leafHash(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(Uint8Array.of(0)).update(data).digest());
}

function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(Uint8Array.of(1)).update(left).update(right).digest());
}

function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function subtreeRoot(leaves: Uint8Array[], from: number, to: number): Uint8Array {
  const n = to - from;
  if (n === 1) return leaves[from] as Uint8Array;
  const k = split(n);
  return nodeHash(subtreeRoot(leaves, from, from + k), subtreeRoot(leaves, from + k, to));
}

/** Root over already-hashed leaves; the empty tree's root is sha256 of nothing. */
export function merkleRoot(leafHashes: Uint8Array[]): Uint8Array {
  if (leafHashes.length === 0) return new Uint8Array(createHash('sha256').digest());
  return subtreeRoot(leafHashes, 0, leafHashes.length);
}

export function inclusionProof(leafHashes: Uint8Array[], index: number): Uint8Array[] {
  if (index < 0 || index >= leafHashes.length) throw new RangeError('leaf index outside the tree');
  const path: Uint8Array[] = [];
  const walk = (from: number, to: number): void => {
    const n = to - from;
    if (n === 1) return;
    const k = split(n);
    if (index < from + k) {
      walk(from, from + k);
      path.push(subtreeRoot(leafHashes, from + k, to));
    } else {
      walk(from + k, to);
      path.push(subtreeRoot(leafHashes, from, from + k));
    }
  };
  walk(0, leafHashes.length);
  return path;
}

export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  treeSize: number,
  proof: Uint8Array[],
  root: Uint8Array,
): boolean {
  if (index < 0 || index >= treeSize) return false;
  let fn = index;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if ((fn & 1) === 1 || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1) === 0) {
        while ((fn & 1) === 0 && fn !== 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 && Buffer.from(r).equals(Buffer.from(root));
}
