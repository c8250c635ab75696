import { describe, expect, it } from 'vitest';
import { DnsHealth, type DnsHealthReport } from '../src/dns-health.ts';

describe('DnsHealth', () => {
  const clock = () => {
    const c = { t: 1_000_000, now: () => c.t };
    return c;
  };

  it('counts the servers silent only after unanswered queries in a row and a quiet spell, and answering at the first response', () => {
    const c = clock();
    const changes: DnsHealthReport[] = [];
    const health = new DnsHealth({ silentQueries: 3, silentMs: 10_000, now: c.now, onChange: (r) => changes.push(r) });
    for (let i = 0; i < 5; i++) health.record('ETIMEOUT');
    // Five timeouts, but a response came (the start) less than 10 s ago: dead websites, not dead servers.
    expect(health.answering).toBe(true);
    c.t += 10_000;
    health.record('ECONNREFUSED');
    expect(health.report()).toEqual({ answering: false, silentSince: 1_000_000, lastError: 'ECONNREFUSED' });
    health.record('ETIMEOUT');
    expect(changes).toHaveLength(1);
    c.t += 5_000;
    // NXDOMAIN is a response: the servers work.
    health.record('ENOTFOUND');
    expect(health.report()).toEqual({ answering: true, silentSince: null, lastError: null });
    expect(changes.map((r) => r.answering)).toEqual([false, true]);
  });

  it('takes a response between failures as a working server, and ignores cancelled queries', () => {
    const c = clock();
    const health = new DnsHealth({ silentQueries: 3, silentMs: 0, now: c.now });
    health.record('ETIMEOUT');
    health.record('ETIMEOUT');
    health.record(undefined);
    health.record('ETIMEOUT');
    health.record('ECANCELLED');
    health.record('ETIMEOUT');
    expect(health.answering).toBe(true);
    health.record('ESERVFAIL'); // a server that answers with a failure still answers
    health.record('ETIMEOUT');
    health.record('ETIMEOUT');
    expect(health.answering).toBe(true);
    health.record('ETIMEOUT');
    expect(health.answering).toBe(false);
  });
});
