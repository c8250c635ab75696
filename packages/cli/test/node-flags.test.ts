import { describe, expect, it } from 'vitest';
import { missingServiceFlags } from '../src/node-flags.ts';

describe('missingServiceFlags', () => {
  it('finds the service flags on the command line or in NODE_OPTIONS, in either spelling', () => {
    expect(missingServiceFlags([], '')).toEqual(['--max-semi-space-size=8', '--expose-gc']);
    expect(missingServiceFlags(['--max-semi-space-size=8', '--expose-gc'], '')).toEqual([]);
    expect(missingServiceFlags([], '--expose-gc --max-semi-space-size=4')).toEqual([]);
    expect(missingServiceFlags(['--max_semi_space_size=16', '--expose_gc'], '')).toEqual([]);
    expect(missingServiceFlags(['--max-old-space-size=512'], '--expose-gc')).toEqual(['--max-semi-space-size=8']);
    expect(missingServiceFlags(['--max-semi-space-size=8'], '')).toEqual(['--expose-gc']);
  });
});
