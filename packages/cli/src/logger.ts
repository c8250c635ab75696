import { type Logger, pino } from 'pino';

/** JSON logs to stdout, synchronous (nothing lost at exit), credentials redacted. */
export function createLogger(role: string, level: string): Logger {
  return pino(
    {
      level,
      base: { role },
      redact: {
        paths: [
          'password',
          'apiKey',
          '*.password',
          '*.apiKey',
          'headers["proxy-authorization"]',
          '*.headers["proxy-authorization"]',
          'session',
          '*.session',
        ],
        censor: '[redacted]',
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ dest: 1, sync: true }),
  );
}
