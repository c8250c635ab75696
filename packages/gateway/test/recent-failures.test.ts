import { MeadowError } from '@meadow/protocol';
import { describe, expect, it } from 'vitest';
import { RecentFailures } from '../src/recent-failures.ts';

describe('RecentFailures', () => {
  it('keeps each customer’s last failures, newest first, and counts every one by code', () => {
    const failures = new RecentFailures(3);
    for (let i = 0; i < 5; i++)
      failures.add(
        'acme',
        'socks5',
        new MeadowError('MEADOW_ERR_DNS_FAILED', `no ${i}`, { hop: 'target' }),
        `h${i}:80`,
      );
    failures.add('other', 'http-connect', new MeadowError('MEADOW_ERR_NO_RELAY', 'none in JP'), undefined, 'gw-1');
    expect(failures.of('acme').map((f) => f.target)).toEqual(['h4:80', 'h3:80', 'h2:80']);
    expect(failures.countsOf('acme')).toEqual({ MEADOW_ERR_DNS_FAILED: 5 });
    expect(failures.of('other')).toMatchObject([
      { code: 'MEADOW_ERR_NO_RELAY', hop: 'gateway', message: 'none in JP', gateway: 'gw-1' },
    ]);
    expect(failures.of('nobody')).toEqual([]);
  });

  it('clips what a relay wrote, so no relay can grow the list', () => {
    const failures = new RecentFailures();
    failures.add(
      'acme',
      'socks5',
      new MeadowError('MEADOW_ERR_TARGET_FORBIDDEN', 'x'.repeat(60_000), { hop: 'relay' }),
    );
    const [entry] = failures.of('acme');
    expect(entry?.message.length).toBe(300);
    expect(entry?.message.endsWith('…')).toBe(true);
  });
});
