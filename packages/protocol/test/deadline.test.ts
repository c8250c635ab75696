import { describe, expect, it } from 'vitest';
import { Deadline } from '../src/deadline.ts';

describe('Deadline', () => {
  it('aborts with a TimeoutError when the time passes, and says it expired', async () => {
    const deadline = new Deadline(20);
    await new Promise((r) => deadline.signal.addEventListener('abort', r));
    expect(deadline.expired).toBe(true);
    expect((deadline.signal.reason as DOMException).name).toBe('TimeoutError');
  });

  it('aborts early for its owner with the owner’s reason, without expiring', () => {
    const deadline = new Deadline(10_000);
    deadline.abort(new Error('client went away'));
    expect(deadline.signal.aborted).toBe(true);
    expect((deadline.signal.reason as Error).message).toBe('client went away');
    expect(deadline.expired).toBe(false);
    deadline.clear();
  });

  it('never fires once cleared', async () => {
    const deadline = new Deadline(10);
    deadline.clear();
    await new Promise((r) => setTimeout(r, 40));
    expect(deadline.signal.aborted).toBe(false);
  });
});
