import { flushCompileCache } from 'node:module';
import type { Logger } from 'pino';
import { missingServiceFlags, SERVICE_NODE_FLAGS } from './node-flags.ts';

/**
 * Runs a started service until SIGINT/SIGTERM, then stops it gracefully and resolves with the
 * exit code. A second signal forces the exit. Call it before logging `ready`: until the handlers
 * are installed SIGTERM kills the process outright, and a supervisor (or a test) may signal the
 * moment it reads that line.
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
    // Every module of the running service is loaded by now: save their compiled form (bin.js turns
    // the cache on) now rather than at exit, which a killed process never reaches.
    flushCompileCache();
    const missing = missingServiceFlags();
    if (missing.length > 0) {
      log.warn(
        { missing },
        `node started without ${missing.join(' ')}: resident memory grows under load and is not handed back when idle, and bulk transfers after an idle spell run at half speed; start services with \`node ${SERVICE_NODE_FLAGS.join(' ')} …/bin.js\` (pnpm meadow and the systemd unit do)`,
      );
    }
    // Leak checks (loadtest/soak.ts) send SIGUSR2 before they measure, so live memory is compared,
    // not garbage V8 has not collected yet.
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc != null) process.on('SIGUSR2', () => gc());
  });
}
