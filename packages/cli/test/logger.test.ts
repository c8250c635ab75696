import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { logLineAsText } from '../src/logger.ts';

const LOGGER = fileURLToPath(new URL('../src/logger.ts', import.meta.url));

/** Logs two events through `createLogger` in a child process (stdout a pipe) and returns stdout. */
function logInChild(format: string): Promise<string> {
  const script = `import { createLogger } from ${JSON.stringify(LOGGER)};
const log = createLogger('relay', 'info', ${JSON.stringify(format)});
log.info({ customer: { apiKey: 'k-123' }, password: 'p-456', tunnels: 3 }, 'ready');
log.error({ err: new Error('disk full') }, 'meter write failed');`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], (error, stdout) =>
      error == null ? resolve(String(stdout)) : reject(error),
    );
  });
}

describe('logs', () => {
  it('writes one line of text per event: local time, level, role, message, then the fields', () => {
    const line = JSON.stringify({
      level: 40,
      time: '2026-11-27T13:42:38.050Z',
      role: 'relay',
      gateway: '12D3KooWabc',
      addrs: ['/ip4/1.2.3.4/tcp/1'],
      reason: 'no reply in 5 s',
      msg: 'gateway link closed',
    });
    expect(logLineAsText(`${line}\n`)).toMatch(
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d WARN {2}relay: gateway link closed gateway=12D3KooWabc addrs=\["\/ip4\/1.2.3.4\/tcp\/1"\] reason="no reply in 5 s"\n$/,
    );
    expect(logLineAsText('not json\n')).toBe('not json\n');
    // Most of our events carry the error as its message alone.
    const retry = JSON.stringify({
      level: 40,
      time: '2026-11-27T13:42:38.050Z',
      role: 'relay',
      err: 'no DHT server',
      msg: 'x',
    });
    expect(logLineAsText(retry)).toMatch(/ WARN {2}relay: x err="no DHT server"\n$/);
  });

  it('redacts credentials in text as in JSON, and puts an error stack on indented lines', async () => {
    const text = await logInChild('text');
    const [ready, failed, stackTop] = text.split('\n');
    expect(ready).toMatch(
      / INFO {2}relay: ready customer=\{"apiKey":"\[redacted\]"\} password=\[redacted\] tunnels=3$/,
    );
    expect(failed).toMatch(/ ERROR relay: meter write failed err="disk full"$/);
    expect(stackTop).toBe('    Error: disk full');
    expect(text).not.toMatch(/k-123|p-456/);
  });

  it('writes JSON lines when asked, and by default when stdout is not a terminal', async () => {
    for (const format of ['json', 'auto']) {
      const lines = (await logInChild(format)).trim().split('\n');
      expect(lines).toHaveLength(2);
      const ready = JSON.parse(lines[0] as string) as Record<string, unknown>;
      expect(ready).toMatchObject({ level: 30, role: 'relay', msg: 'ready', password: '[redacted]', tunnels: 3 });
    }
  });
});
