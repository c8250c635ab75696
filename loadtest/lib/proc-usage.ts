import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';

export interface Usage {
  cpuMs: number;
  reads: number;
  writes: number;
}

/** CPU time (user + system) and read/write system calls a process has used so far, from /proc. */
export async function usageOf(pid: number): Promise<Usage> {
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  const io = await readFile(`/proc/${pid}/io`, 'utf8');
  const ticksPerSecond = 100; // USER_HZ on Linux
  return {
    cpuMs: ((Number(stat[11]) + Number(stat[12])) * 1000) / ticksPerSecond,
    reads: Number(/^syscr: (\d+)/m.exec(io)?.[1]),
    writes: Number(/^syscw: (\d+)/m.exec(io)?.[1]),
  };
}

/** The same, summed over processes. */
export async function totalUsage(pids: number[]): Promise<Usage> {
  return sumUsage(await Promise.all(pids.map(usageOf)));
}

export function sumUsage(usages: Usage[]): Usage {
  return usages.reduce((a, b) => ({ cpuMs: a.cpuMs + b.cpuMs, reads: a.reads + b.reads, writes: a.writes + b.writes }));
}

/** Clock ticks the whole machine has spent so far, busy and in all (/proc/stat's first line). */
export async function machineTicks(): Promise<{ busy: number; all: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0] ?? '';
  // user nice system idle iowait irq softirq steal (guest time is already inside user and nice)
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const all = ticks.reduce((a, b) => a + b, 0);
  return { busy: all - (ticks[3] ?? 0) - (ticks[4] ?? 0), all };
}

/**
 * Cores the machine kept busy between two readings (2 = both of a 2-core machine all the time).
 * A path that leaves cores idle while it is driven as hard as the load allows is waiting on
 * something (a window, a round trip), not bound by CPU.
 */
export function coresBusy(before: { busy: number; all: number }, after: { busy: number; all: number }): number {
  const all = after.all - before.all;
  return all > 0 ? ((after.busy - before.busy) / all) * availableParallelism() : 0;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

/** For each path, the median of every figure over its rounds. */
export function mediansByPath<T extends Record<string, number>>(rows: Map<string, T[]>): Array<{ name: string } & T> {
  return [...rows].map(([name, list]) => {
    const medians: Record<string, number> = {};
    for (const key of Object.keys(list[0] ?? {})) medians[key] = median(list.map((row) => row[key] as number));
    return { name, ...(medians as T) };
  });
}
