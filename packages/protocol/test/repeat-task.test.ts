import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { repeatTask } from '../src/repeat-task.ts';
import { TimerSet } from '../src/timer-set.ts';

describe('repeatTask', () => {
  beforeEach(() => vi.useFakeTimers({ now: 0, toFake: ['setTimeout', 'clearTimeout', 'Date'] }));
  afterEach(() => vi.useRealTimers());

  function start(outcomes: Array<string | null>, nextDelayMs = 30_000) {
    const runs: number[] = [];
    let failed = 0;
    const lines: Array<{ level: string; msg: string; fields: object }> = [];
    const timers = new TimerSet();
    let stopped = false;
    const context = {
      timers,
      log: {
        warn: (fields: object, msg: string) => lines.push({ level: 'warn', msg, fields }),
        info: (fields: object, msg: string) => lines.push({ level: 'info', msg, fields }),
      },
      stopped: () => stopped,
      failed: (name: string) => {
        expect(name).toBe('publish_descriptor');
        failed++;
      },
    };
    repeatTask(context, {
      name: 'publish_descriptor',
      what: 'publish the descriptor',
      task: async () => {
        runs.push(Date.now());
        const error = outcomes.shift() ?? null;
        if (error != null) throw new Error(error);
      },
      firstDelayMs: 100,
      nextDelayMs: () => nextDelayMs,
    });
    return { runs, lines, stop: () => (stopped = true), timers, failed: () => failed };
  }

  it('retries a failing task after 1, 2, 4, then every 8 s, and logs a repeated error once', async () => {
    const t = start(Array(8).fill('no DHT server'));
    await vi.advanceTimersByTimeAsync(40_000);
    expect(t.runs.slice(0, 7)).toEqual([100, 1_100, 3_100, 7_100, 15_100, 23_100, 31_100]);
    expect(t.failed()).toBe(t.runs.length); // every failed run counted, though logged once
    expect(t.lines).toEqual([
      {
        level: 'warn',
        msg: 'could not publish the descriptor; retrying',
        fields: { err: 'no DHT server', failures: 1, retryInMs: 1_000 },
      },
    ]);
  });

  it('logs again when the error changes, after a minute of the same one, and when it works again', async () => {
    const t = start([...Array(11).fill('a'), 'b', null]);
    await vi.advanceTimersByTimeAsync(90_000);
    expect(t.lines.map((l) => [l.level, (l.fields as { err?: string }).err ?? l.msg])).toEqual([
      ['warn', 'a'], // at 0.1 s
      ['warn', 'a'], // at 63.1 s: a minute of the same error
      ['warn', 'b'], // at 71.1 s: a new error
      ['info', 'publish the descriptor: working again'],
    ]);
    expect(t.lines[3]?.fields).toEqual({ failures: 12 });
  });

  it('waits its usual delay after a success, backs off after a failure even when that is longer, and stops', async () => {
    const t = start(['x', 'x', null, null], 1_500);
    await vi.advanceTimersByTimeAsync(6_000);
    expect(t.runs).toEqual([100, 1_100, 3_100, 4_600]);
    t.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(t.runs).toHaveLength(4);
    expect(t.timers.size).toBe(0);
  });
});
