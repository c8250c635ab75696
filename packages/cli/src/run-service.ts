import type { Logger } from 'pino';

/**
 * Runs a started service until SIGINT/SIGTERM, then stops it gracefully and resolves with the
 * exit code. A second signal forces the exit.
 */
export function runUntilSignal(log: Logger, stop: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting now');
        resolve(1);
        return;
      }
      stopping = true;
      log.info({ signal }, 'stopping');
      stop().then(
        () => {
          log.info('stopped');
          resolve(0);
        },
        (err: Error) => {
          log.error({ err: err.message }, 'error while stopping');
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // Leak checks (loadtest/soak.ts) run services with --expose-gc and send SIGUSR2 before they
    // measure, so live memory is compared, not garbage V8 has not collected yet.
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc != null) process.on('SIGUSR2', () => gc());
  });
}
