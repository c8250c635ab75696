import { type DestinationStream, type Logger, pino } from 'pino';

export type LogFormat = 'auto' | 'json' | 'text';

/**
 * Logs to stdout, synchronous (nothing lost at exit), credentials redacted. JSON lines for
 * machines (a pipe, journald, a log shipper); one line of text per event for a person at a
 * terminal. `auto` picks text when stdout is a terminal.
 */
export function createLogger(role: string, level: string, format: LogFormat = 'auto'): Logger {
  const text = format === 'text' || (format === 'auto' && process.stdout.isTTY === true);
  const json = pino.destination({ dest: 1, sync: true });
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
    text ? textDestination(json) : json,
  );
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };

/** Rewrites each JSON line pino makes as text before it reaches `out`. */
function textDestination(out: DestinationStream): DestinationStream {
  return { write: (line: string) => out.write(logLineAsText(line)) };
}

/**
 * `2026-11-27 13:42:38 INFO  relay: ready peerId=12D3… multiaddrs=["/ip4/…"]`, in local time; an
 * error's stack follows on indented lines. A line that is not pino's JSON passes unchanged.
 */
export function logLineAsText(line: string): string {
  let event: Record<string, unknown>;
  try {
    event = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const { level, time, role, msg, err, ...fields } = event;
  const when = typeof time === 'string' ? localTime(new Date(time)) : '';
  const parts = [`${when} ${LEVELS[level as number] ?? String(level)} ${String(role ?? '')}: ${String(msg ?? '')}`];
  for (const [key, value] of Object.entries(fields)) parts.push(`${key}=${fieldText(value)}`);
  let text = parts.join(' ');
  if (err != null && typeof err === 'object') {
    const { message, stack } = err as { message?: string; stack?: string };
    text += ` err=${JSON.stringify(message ?? '')}`;
    if (stack != null) text += `\n${stack.replace(/^/gm, '    ')}`;
  } else if (err !== undefined) {
    text += ` err=${fieldText(err)}`;
  }
  return `${text}\n`;
}

function fieldText(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value);
}

function localTime(date: Date): string {
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}
