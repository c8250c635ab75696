import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { coresBusy, machineTicks, usageOf } from '../loadtest/lib/proc-usage.ts';

// The cost benchmarks' readings of /proc: what they report per tunnel and per MB rests on these.

/** Keeps this process on a CPU until it has used `ms` of CPU time. */
function spin(ms: number): void {
  const start = process.cpuUsage();
  for (;;) {
    const used = process.cpuUsage(start);
    if ((used.user + used.system) / 1000 >= ms) return;
  }
}

describe('proc-usage', () => {
  it('counts the CPU time a process spends', async () => {
    const before = await usageOf(process.pid);
    spin(300);
    const after = await usageOf(process.pid);
    // /proc counts in 10 ms ticks
    expect(after.cpuMs - before.cpuMs).toBeGreaterThanOrEqual(280);
    expect(after.reads).toBeGreaterThan(before.reads); // reading /proc is itself a read
  });

  it('counts busy clock ticks of the whole machine, this process among them', async () => {
    const before = await machineTicks();
    spin(300);
    const after = await machineTicks();
    expect(after.all).toBeGreaterThan(before.all);
    expect(after.busy - before.busy).toBeGreaterThanOrEqual(28); // 300 ms of ours alone, in 10 ms ticks
    expect(after.busy - before.busy).toBeLessThanOrEqual(after.all - before.all);
    const busy = coresBusy(before, after);
    expect(busy).toBeGreaterThan(0);
    expect(busy).toBeLessThanOrEqual(availableParallelism());
  });

  it('turns tick counts into busy cores', () => {
    const cores = availableParallelism();
    expect(coresBusy({ busy: 100, all: 400 }, { busy: 200, all: 600 })).toBe(cores / 2);
    expect(coresBusy({ busy: 100, all: 400 }, { busy: 100, all: 400 })).toBe(0);
  });
});
