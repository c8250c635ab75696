import { createHash } from 'node:crypto';

/** RFC 6962 Merkle tree hash (sha256, 0x00 leaf and 0x01 node prefixes), inclusion proofs per RFC 9162 §2.1.3. */
export function leafHash(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(Uint8Array.of(0)).update(data).digest());
}

function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(Uint8Array.of(1)).update(left).update(right).digest());
}

/**
 * The tree level by level, bottom up: pairs are hashed left to right and a lone last node moves up
 * unchanged. For any size this is exactly RFC 6962's recursive definition (split at the largest
 * power of two below n), built in O(n) so that all of an epoch's proofs cost O(n log n).
 */
export class MerkleTree {
  private readonly levels: Uint8Array[][];

  constructor(leafHashes: Uint8Array[]) {
    this.levels = [leafHashes];
    let level = leafHashes;
    while (level.length > 1) {
      const next: Uint8Array[] = [];
      for (let i = 0; i + 1 < level.length; i += 2)
        next.push(nodeHash(level[i] as Uint8Array, level[i + 1] as Uint8Array));
      if (level.length % 2 === 1) next.push(level.at(-1) as Uint8Array);
      this.levels.push(next);
      level = next;
    }
  }

  get size(): number {
    return (this.levels[0] as Uint8Array[]).length;
  }

  /** The root; the empty tree's root is sha256 of nothing. */
  root(): Uint8Array {
    if (this.size === 0) return new Uint8Array(createHash('sha256').digest());
    return (this.levels.at(-1) as Uint8Array[])[0] as Uint8Array;
  }

  /** The audit path of leaf `index`, from the leaf's sibling up (RFC 9162 §2.1.3.1). */
  proof(index: number): Uint8Array[] {
    if (!Number.isInteger(index) || index < 0 || index >= this.size)
      throw new RangeError('leaf index outside the tree');
    const path: Uint8Array[] = [];
    let i = index;
    for (const level of this.levels.slice(0, -1)) {
      const sibling = i ^ 1;
      if (sibling < level.length) path.push(level[sibling] as Uint8Array);
      i >>= 1;
    }
    return path;
  }
}

export function merkleRoot(leafHashes: Uint8Array[]): Uint8Array {
  return new MerkleTree(leafHashes).root();
}

export function inclusionProof(leafHashes: Uint8Array[], index: number): Uint8Array[] {
  return new MerkleTree(leafHashes).proof(index);
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
