import { describe, expect, it } from 'vitest';
import { IdleTrim } from '../src/idle-trim.ts';

describe('IdleTrim', () => {
  it('collects after the quiet time, then every repeat interval while quiet, never while busy', () => {
    let collections = 0;
    const trim = new IdleTrim({ quietMs: 20_000, repeatMs: 60_000 }, () => collections++, 0);
    expect(trim.tick(false, 15_000)).toBe(false); // quiet, but not long enough
    expect(trim.tick(false, 20_000)).toBe(true);
    expect(trim.tick(false, 75_000)).toBe(false); // not again before the repeat interval
    expect(trim.tick(false, 80_000)).toBe(true);
    expect(trim.tick(true, 85_000)).toBe(false); // traffic starts a new quiet spell
    expect(trim.tick(false, 100_000)).toBe(false);
    expect(trim.tick(false, 105_000)).toBe(true);
    expect(collections).toBe(3);
  });

  it('does nothing when the process cannot ask for a GC', () => {
    const trim = new IdleTrim({ quietMs: 1_000, repeatMs: 1_000 }, undefined, 0);
    expect(trim.tick(false, 10_000)).toBe(false);
  });
});
