import { describe, expect, it } from 'vitest';
import { HouseholdYield } from '../src/household/yield.ts';

const MB = 1_000_000;

function controller(targetDelayMs = 100) {
  let now = 1_000_000_000;
  const y = new HouseholdYield({ targetDelayMs, minBytesPerSecond: 64_000, now: () => now });
  return {
    y,
    /** One round: a second passes, each link answers a ping in `rttMs`, then the controller adjusts. */
    round(rttMs: number | Record<string, number>, carried = 10 * MB) {
      now += 1_000;
      for (const [gateway, rtt] of Object.entries(typeof rttMs === 'number' ? { g1: rttMs } : rttMs))
        y.sample(gateway, rtt);
      return y.adjust(carried);
    },
    /** An idle relay's round: pings only (it adjusts nothing while it carries nothing). */
    idle(rttMs: number | Record<string, number>) {
      now += 1_000;
      for (const [gateway, rtt] of Object.entries(typeof rttMs === 'number' ? { g1: rttMs } : rttMs))
        y.sample(gateway, rtt, true);
    },
    pass(ms: number) {
      now += ms;
    },
  };
}

describe('yielding to the household: a delay-based ceiling on the relay rate', () => {
  it('sets no ceiling while pings take what an empty line takes', () => {
    const c = controller();
    c.idle(20);
    for (let i = 0; i < 10; i++)
      expect(c.round(20 + (i % 3))).toEqual({
        queueDelayMs: i % 3 === 0 ? 0 : expect.any(Number),
        ceilingBytesPerSecond: undefined,
        probing: false,
      });
  });

  it('lowers the ceiling in proportion to the excess over the target, at most halving a round, never under the floor', () => {
    const c = controller();
    c.idle(20);
    c.idle(20);
    // 150 ms of queue against a 100 ms target: a quarter off what was carried.
    c.round(170);
    expect(c.round(170)).toEqual({ queueDelayMs: 150, ceilingBytesPerSecond: 7_500_000, probing: false });
    // The delay of a link is the lower of its last two pings: 150 ms again, a quarter off what was
    // carried (less than the ceiling now); then 400 ms, halved from the ceiling.
    expect(c.round(420, 7 * MB)).toMatchObject({ queueDelayMs: 150, ceilingBytesPerSecond: 5_250_000 });
    expect(c.round(420, 6 * MB)).toMatchObject({ queueDelayMs: 400, ceilingBytesPerSecond: 2_625_000 });
    for (let i = 0; i < 20; i++) c.round(420, 50_000);
    expect(c.y.adjust(50_000).ceilingBytesPerSecond).toBe(64_000);
  });

  it('does not take one slow ping for a queue', () => {
    const c = controller();
    c.idle(20);
    c.round(20);
    expect(c.round(400).ceilingBytesPerSecond).toBeUndefined();
    expect(c.round(20).ceilingBytesPerSecond).toBeUndefined();
  });

  it('raises the ceiling while the queue is under the target, and lifts it after 30 quiet rounds', () => {
    const c = controller();
    c.idle(20);
    c.round(220);
    expect(c.round(220).ceilingBytesPerSecond).toBe(5 * MB);
    // 60 ms of queue: under the target, up by a tenth a round; not quiet (above half the target).
    expect(c.round(80).ceilingBytesPerSecond).toBe(5_500_000);
    expect(c.round(80).ceilingBytesPerSecond).toBe(6_050_000);
    // Not raised far past what the relay carried: 1 MB/s carried holds it where it is.
    expect(c.round(20, 1 * MB).ceilingBytesPerSecond).toBe(6_050_000);
    let last: number | undefined = 0;
    let rounds = 0;
    while (last != null && rounds < 100) {
      last = c.round(20).ceilingBytesPerSecond;
      rounds++;
    }
    expect(rounds).toBe(29);
  });

  it('takes the most delayed link, and forgets a base older than ten minutes', () => {
    const c = controller();
    c.idle({ g1: 20, g2: 50 });
    c.idle({ g1: 20, g2: 50 });
    expect(c.y.queueDelayMs()).toBe(0);
    c.round({ g1: 20, g2: 250 });
    expect(c.round({ g1: 20, g2: 250 })).toMatchObject({ queueDelayMs: 200, ceilingBytesPerSecond: 5 * MB });
    // The route to g2 changed for good: its old 50 ms minimum ages out after ten minutes.
    for (let minute = 0; minute < 11; minute++) {
      c.pass(59_000);
      c.idle({ g1: 20, g2: 90 });
    }
    expect(c.y.queueDelayMs()).toBe(0);
    // A link that fell silent says nothing about the line now.
    c.pass(6_000);
    expect(c.y.queueDelayMs()).toBeUndefined();
    c.y.forget('g2');
    c.round({ g1: 20 });
    expect(c.y.queueDelayMs()).toBe(0);
  });

  it('holds back to see the empty line when it has carried traffic for a minute without a pause', () => {
    const c = controller();
    // Busy from its first round: the relay has never seen its line empty, so it looks at once.
    expect(c.round(300)).toEqual({ queueDelayMs: undefined, ceilingBytesPerSecond: 64_000, probing: true });
    expect(c.round(150)).toEqual({ queueDelayMs: undefined, ceilingBytesPerSecond: 64_000, probing: true });
    // Round trips still fall by more than a fifth a round (a backlog draining): it holds on. A
    // round that does not fall ends the look; the empty line is the lowest seen, 20 ms.
    expect(c.round(20).probing).toBe(true);
    expect(c.round(320).probing).toBe(false);
    expect(c.round(320)).toEqual({ queueDelayMs: 300, ceilingBytesPerSecond: 5 * MB, probing: false });
    // A minute after that look, it looks again, then goes on from the ceiling it had.
    let rounds = 0;
    while (!c.round(320).probing) rounds++;
    expect(rounds).toBe(58);
    expect(c.round(20).probing).toBe(true);
    const after = c.round(20);
    expect(after.probing).toBe(false);
    expect(after.ceilingBytesPerSecond).toBe(80_000);
  });
});
