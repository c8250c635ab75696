import type { TimerSet } from './timer-set.ts';

/** What `repeatTask` logs with: a pino logger fits. */
export interface TaskLog {
  warn(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
}

/** How long a failing task waits before its next try: after the 1st, 2nd, 3rd and later failures. */
const RETRY_DELAYS_MS = [1_000, 2_000, 4_000, 8_000];
/** A failure that repeats with the same error is logged again after this long. */
const RELOG_MS = 60_000;

/** What the background tasks of one service share. */
export interface TaskContext<Name extends string = string> {
  timers: TimerSet;
  log: TaskLog;
  stopped: () => boolean;
  /** Called on every failed run of the named task, e.g. to count it in a metric. */
  failed?: (name: Name) => void;
}

export interface RepeatTaskInit<Name extends string = string> {
  /** The task's name in metrics, e.g. 'publish_descriptor'. */
  name: Name;
  /** What the task does, as the end of "could not …": e.g. 'publish the descriptor in the DHT'. */
  what: string;
  task: () => Promise<void>;
  firstDelayMs: number;
  /** The wait after a run that worked (asked each time, so it can depend on the service's state). */
  nextDelayMs: () => number;
}

/**
 * Runs a service's background task again and again, never overlapping, until `stopped()`. A failing
 * task is retried after 1, 2, 4, then every 8 s, whatever its usual wait, and logged when
 * its error changes and at most once a minute otherwise, with a line when it works again: a task
 * that fails every second writes one line, not sixty a minute.
 */
export function repeatTask<Name extends string>(context: TaskContext<Name>, init: RepeatTaskInit<Name>): void {
  let failures = 0;
  let lastError = '';
  let loggedAt = 0;
  const run = async (): Promise<void> => {
    if (context.stopped()) return;
    let retryInMs: number | undefined;
    try {
      await init.task();
      if (failures > 0) context.log.info({ failures }, `${init.what}: working again`);
      failures = 0;
      lastError = '';
    } catch (err) {
      failures++;
      context.failed?.(init.name);
      retryInMs = RETRY_DELAYS_MS[Math.min(failures, RETRY_DELAYS_MS.length) - 1] as number;
      const message = (err as Error).message;
      if (message !== lastError || Date.now() - loggedAt >= RELOG_MS) {
        context.log.warn({ err: message, failures, retryInMs }, `could not ${init.what}; retrying`);
        lastError = message;
        loggedAt = Date.now();
      }
    }
    if (context.stopped()) return;
    context.timers.arm(retryInMs ?? init.nextDelayMs(), () => void run());
  };
  context.timers.arm(init.firstDelayMs, () => void run());
}
