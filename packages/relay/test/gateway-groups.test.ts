import { describe, expect, it } from 'vitest';
import { GatewayGroups } from '../src/gateway-groups.ts';

describe('GatewayGroups', () => {
  it('counts a gateway and the siblings it names as one group, whichever names the other', () => {
    const groups = new GatewayGroups(8);
    groups.report('a', ['b', 'c']);
    groups.report('d', []);
    expect(groups.groups(['a', 'd']).map((g) => g.sort())).toEqual([['a'], ['d']]);
    expect(groups.missing(['a', 'd'])).toEqual(['b', 'c']);
    // b is linked and named by a: one group, though b has not said anything yet.
    expect(groups.groups(['a', 'b', 'd']).map((g) => g.sort())).toEqual([['a', 'b'], ['d']]);
    groups.report('c', ['a']);
    expect(groups.groups(['a', 'b', 'c', 'd']).map((g) => g.sort())).toEqual([['a', 'b', 'c'], ['d']]);
    expect(groups.missing(['a', 'b', 'c', 'd'])).toEqual([]);
    expect(groups.isSiblingOfLinked('c', ['a'])).toBe(true);
    expect(groups.isSiblingOfLinked('e', ['a', 'd'])).toBe(false);
  });

  it('links at most `maxSiblings` beside the first gateway of a group, and none when 0', () => {
    const named = Array.from({ length: 12 }, (_, i) => `s${i}`);
    const capped = new GatewayGroups(3);
    capped.report('a', named);
    expect(capped.missing(['a'])).toEqual(['s0', 's1', 's2']);
    expect(capped.missing(['a', 's0', 's1'])).toEqual(['s2']);
    expect(capped.missing(['a', 's0', 's1', 's2'])).toEqual([]);
    const off = new GatewayGroups(0);
    expect(off.enabled).toBe(false);
    off.report('a', named);
    expect(off.missing(['a'])).toEqual([]);
  });

  it('never names a gateway its own sibling, forgets a gateway whose link closed, and asks again when stale', () => {
    const groups = new GatewayGroups(8);
    groups.report('a', ['a', 'b'], 1_000);
    expect(groups.missing(['a'])).toEqual(['b']);
    expect(groups.stale(['a', 'x'], 60_000, 30_000)).toEqual(['x']);
    expect(groups.stale(['a', 'x'], 60_000, 61_000)).toEqual(['a', 'x']);
    groups.forget('a');
    expect(groups.missing(['a'])).toEqual([]);
    expect(groups.stale(['a'], 60_000, 2_000)).toEqual(['a']);
  });
});
