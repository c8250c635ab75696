import { describe, expect, it } from 'vitest';
import { computeRewards, lineMicros } from '../src/rewards.ts';

const A = '12D3KooWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const B = '12D3KooWBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';
const C = '12D3KooWCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC';

describe('rewards from revenue', () => {
  it('charges bytes × price per 10^9 bytes, rounded down per customer line', () => {
    expect(lineMicros({ bytes: 1_000_000_000, priceMicrosPerGb: 3_000_000 })).toBe(3_000_000);
    expect(lineMicros({ bytes: 999, priceMicrosPerGb: 1_000_000 })).toBe(0);
    expect(lineMicros({ bytes: 2 ** 52, priceMicrosPerGb: 9_000_000 })).toBe(
      Number((2n ** 52n * 9_000_000n) / 10n ** 9n),
    );
  });

  it('splits the provider pool by co-signed bytes and sums exactly to it (largest remainder)', () => {
    const out = computeRewards(
      [{ customer: 'c1', bytes: 10_000_000_000, priceMicrosPerGb: 1_000_001 }],
      new Map([
        [A, 1],
        [B, 1],
        [C, 1],
      ]),
      100_000,
    );
    expect(out.revenueMicros).toBe(10_000_010);
    expect(out.providerPoolMicros).toBe(9_000_009);
    expect(out.rewards.map((r) => r.micros)).toEqual([3_000_003, 3_000_003, 3_000_003]);
    const uneven = computeRewards(
      [{ customer: 'c', bytes: 10 ** 9, priceMicrosPerGb: 100 }],
      new Map([
        [A, 1],
        [B, 1],
        [C, 1],
      ]),
      0,
    );
    expect(uneven.rewards.map((r) => r.micros)).toEqual([34, 33, 33]);
    expect(uneven.rewards.reduce((s, r) => s + r.micros, 0)).toBe(100);
  });

  it('gives leftover micro-units to the largest fractional parts before ties', () => {
    const out = computeRewards(
      [{ customer: 'c', bytes: 10 ** 9, priceMicrosPerGb: 10 }],
      new Map([
        [A, 1],
        [B, 2],
        [C, 4],
      ]),
      0,
    );
    // 10 × 1/7 = 1.43, 10 × 2/7 = 2.86, 10 × 4/7 = 5.71: floors 1+2+5 = 8, the 2 left go to B (.86) and C (.71).
    expect(out.rewards).toEqual([
      { relay: A, bytes: 1, micros: 1 },
      { relay: B, bytes: 2, micros: 3 },
      { relay: C, bytes: 4, micros: 6 },
    ]);
  });

  it('sums exactly for many random splits', () => {
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 200; round++) {
      const relays = new Map<string, number>();
      for (let i = 0; i < 1 + rand(30); i++) relays.set(`12D3KooW${String(i).padStart(44, 'x')}`, rand(10 ** 9));
      const revenue = [{ customer: 'c', bytes: rand(10 ** 12), priceMicrosPerGb: 1 + rand(10 ** 7) }];
      const out = computeRewards(revenue, relays, rand(1_000_001));
      const paid = out.rewards.reduce((s, r) => s + r.micros, 0);
      expect(paid).toBe(out.providerPoolMicros);
    }
  });

  it('pays nothing when nothing was carried, and rejects a fee outside 0-100%', () => {
    expect(
      computeRewards([{ customer: 'c', bytes: 10 ** 9, priceMicrosPerGb: 5 }], new Map([[A, 0]]), 0),
    ).toMatchObject({
      revenueMicros: 5,
      providerPoolMicros: 0,
      rewards: [],
    });
    expect(() => computeRewards([], new Map(), 1_000_001)).toThrow(/feePpm/);
  });
});
