import { describe, expect, it } from 'vitest';
import { meadow } from './run-meadow.ts';

describe('meadow flags', () => {
  it.each([
    [['demo', '--relays', '0'], '--relays must be a whole number from 1 to 16, got "0"'],
    [['demo', '--relays', 'abc'], '--relays must be a whole number from 1 to 16, got "abc"'],
    [['demo', '--relays', '2.5'], '--relays must be a whole number from 1 to 16, got "2.5"'],
    [['demo', '--relays', '300'], '--relays must be a whole number from 1 to 16, got "300"'],
    [['demo', 'now'], "Unexpected argument 'now'"],
    [['origin', '--port', '70000'], '--port must be a whole number from 0 to 65535, got "70000"'],
    [['origin', '--port'], "Option '--port <value>' argument missing"],
  ])('%j is refused with exit code 2 and the reason, before anything starts', async (args, reason) => {
    const result = await meadow(...args);
    expect(result.code).toBe(2);
    expect(result.stderr.startsWith(`meadow: ${reason}`)).toBe(true);
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(result.stdout).toBe('');
  });

  it('lists every customer subcommand in the top-level help', async () => {
    const help = await meadow('--help');
    expect(help.code).toBe(0);
    const line = help.stdout.split('\n').find((l) => l.trim().startsWith('customer ')) ?? '';
    expect(line.trim().split(/\s+/)[1]?.split('|')).toEqual([
      'add',
      'list',
      'set',
      'rotate-key',
      'disable',
      'enable',
      'usage',
    ]);
  });
});
