import { describe, expect, it } from 'vitest';
import { GatewayTrials, REST_TRIALS } from '../src/gateway-trials.ts';

const EVERY = 60_000;
/** random() of 0.5: intervals of exactly EVERY, and the middle of any list. */
const steady = () => 0.5;

describe('GatewayTrials', () => {
  it('is due an interval after start (±50%), and never when off', () => {
    expect(new GatewayTrials(EVERY, 0, steady).due(EVERY - 1)).toBe(false);
    expect(new GatewayTrials(EVERY, 0, steady).due(EVERY)).toBe(true);
    expect(new GatewayTrials(EVERY, 0, () => 0).due(0.5 * EVERY)).toBe(true);
    expect(new GatewayTrials(EVERY, 0, () => 0.999).due(1.49 * EVERY)).toBe(false);
    const off = new GatewayTrials(0, 0, steady);
    expect(off.enabled).toBe(false);
    expect(off.due(1e12)).toBe(false);
  });

  it('lets go of the group that carried the fewest bytes during the trial, counted from its start', () => {
    const trials = new GatewayTrials(EVERY, 0, steady);
    expect(trials.choose(['c'], EVERY)).toBe('c');
    // a and b carried plenty before the trial; only what they carry during it counts.
    trials.begin(
      'c',
      new Map([
        ['a', 5_000_000],
        ['b', 9_000_000],
      ]),
      EVERY,
    );
    expect(trials.onTrial).toBe('c');
    expect(trials.due(EVERY + 1)).toBe(false); // one trial at a time
    const carried = new Map([
      ['a', 5_000_100],
      ['b', 9_900_000],
      ['c', 40_000],
    ]);
    const groups = [
      { members: ['a'], linkedAt: 0 },
      { members: ['b'], linkedAt: 1 },
      { members: ['c'], linkedAt: EVERY },
    ];
    expect(trials.judge(groups, (id) => carried.get(id) ?? 0, 2, 2 * EVERY - 1)).toBeUndefined();
    const verdict = trials.judge(groups, (id) => carried.get(id) ?? 0, 2, 2 * EVERY);
    expect(verdict?.letGo?.members).toEqual(['a']);
    expect(verdict?.trialKept).toBe(true);
    expect(verdict?.sent.map((s) => s.bytes)).toEqual([100, 900_000, 40_000]);
    expect(trials.onTrial).toBeUndefined();
  });

  it('on a tie lets the most recently linked group go, so a trial without work does not churn the kept', () => {
    const trials = new GatewayTrials(EVERY, 0, steady);
    trials.begin('c', new Map(), EVERY);
    const groups = [
      { members: ['a'], linkedAt: 0 },
      { members: ['b'], linkedAt: 1 },
      { members: ['c'], linkedAt: EVERY },
    ];
    const verdict = trials.judge(groups, () => 0, 2, 2 * EVERY);
    expect(verdict?.letGo?.members).toEqual(['c']);
    expect(verdict?.trialKept).toBe(false);
  });

  it("sums a group's members, siblings included", () => {
    const trials = new GatewayTrials(EVERY, 0, steady);
    trials.begin('c', new Map(), EVERY);
    const carried = new Map([
      ['a1', 300],
      ['a2', 300],
      ['c', 500],
    ]);
    const verdict = trials.judge(
      [
        { members: ['a1', 'a2'], linkedAt: 0 },
        { members: ['c'], linkedAt: EVERY },
      ],
      (id) => carried.get(id) ?? 0,
      1,
      2 * EVERY,
    );
    expect(verdict?.letGo?.members).toEqual(['c']);
  });

  it('lets no one go when no more than `keep` groups are still linked (one of them dropped meanwhile)', () => {
    const trials = new GatewayTrials(EVERY, 0, steady);
    trials.begin('c', new Map(), EVERY);
    const verdict = trials.judge(
      [
        { members: ['a'], linkedAt: 0 },
        { members: ['c'], linkedAt: EVERY },
      ],
      () => 0,
      2,
      2 * EVERY,
    );
    expect(verdict).toMatchObject({ trial: 'c', trialKept: true });
    expect(verdict?.letGo).toBeUndefined();
  });

  it('tries gateways never tried first, and one tried or let go only after a rest', () => {
    const trials = new GatewayTrials(EVERY, 0, steady);
    trials.begin('c', new Map(), 0);
    const verdict = trials.judge(
      [
        { members: ['a'], linkedAt: 0 },
        { members: ['c'], linkedAt: 1 },
      ],
      () => 0,
      1,
      EVERY,
    );
    expect(verdict?.letGo?.members).toEqual(['c']);
    // c was tried and let go: d, never tried, comes first; then nothing until c has rested.
    expect(trials.choose(['c', 'd'], EVERY)).toBe('d');
    expect(trials.choose(['c'], 2 * EVERY)).toBeUndefined();
    // random() of 0.5: a rest of exactly REST_TRIALS intervals.
    expect(trials.choose(['c'], EVERY + REST_TRIALS * EVERY - 1)).toBeUndefined();
    expect(trials.choose(['c'], EVERY + REST_TRIALS * EVERY)).toBe('c');
    expect(trials.byRest(['c', 'x'], (id) => id)).toEqual(['x', 'c']);
  });
});
