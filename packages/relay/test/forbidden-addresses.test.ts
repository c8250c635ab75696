import { describe, expect, it } from 'vitest';
import { DEFAULT_EXIT_POLICY, EgressGuard, ExitPolicy, forbiddenReason, HouseholdNetworks } from '../src/index.ts';

describe('addresses a relay never dials', () => {
  it.each([
    ['0.0.0.0', 'this network'],
    ['0.1.2.3', 'this network'],
    ['10.1.2.3', 'private'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.254', 'carrier-grade NAT'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.0.2.10', 'documentation'],
    ['192.168.1.1', 'private'],
    ['198.18.0.1', 'benchmarking'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['224.0.0.251', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fc00::1', 'unique local'],
    ['fd12:3456::1', 'unique local'],
    ['fe80::1', 'link-local'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['::ffff:127.0.0.1', 'IPv4-mapped embedding loopback'],
    ['::ffff:10.0.0.1', 'IPv4-mapped embedding private'],
    ['::ffff:7f00:1', 'IPv4-mapped embedding loopback'],
    ['::127.0.0.1', 'IPv4-compatible embedding loopback'],
    ['::192.168.0.1', 'IPv4-compatible embedding private'],
    ['64:ff9b::127.0.0.1', 'NAT64 embedding loopback'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 embedding link-local'],
    ['64:ff9b:1::10.0.0.1', 'local NAT64 embedding private'],
    ['2002:7f00:1::', '6to4 embedding loopback'],
    ['2002:c0a8:101::1', '6to4 embedding private'],
  ])('refuses %s (%s)', (address, reason) => {
    expect(forbiddenReason(address)).toContain(reason);
  });

  it.each([
    '93.184.216.34',
    '1.1.1.1',
    '100.63.255.255',
    '100.128.0.1',
    '172.32.0.1',
    // Just outside the ranges: the first and last public address around each of several blocks.
    '9.255.255.255',
    '11.0.0.0',
    '126.255.255.255',
    '128.0.0.0',
    '169.253.255.255',
    '192.167.255.255',
    '192.169.0.0',
    '223.255.255.255',
    '2606:4700:4700::1111',
    '::ffff:93.184.216.34',
    '64:ff9b::5db8:d822',
    '2002:5db8:d822::1',
  ])('allows the public address %s', (address) => {
    expect(forbiddenReason(address)).toBeUndefined();
  });
});

describe('EgressGuard', () => {
  const guard = (allowExactTargets: string[] = []): EgressGuard =>
    new EgressGuard({
      policy: new ExitPolicy(DEFAULT_EXIT_POLICY),
      household: new HouseholdNetworks({ interfaces: () => ({}), egressAddress: '93.184.216.99' }),
      ownPorts: new Set([4001]),
      allowExactTargets: new Set(allowExactTargets),
    });

  // getaddrinfo turns every classic alternative spelling into 127.0.0.1; the guard checks what it resolved to.
  it.each(['localhost', '2130706433', '0x7f.1', '0177.0.0.1', '127.1', '0x7f000001', '017700000001'])(
    'resolves %s at the relay and refuses the loopback address it names',
    async (host) => {
      await expect(guard().resolve({ host, port: 80 })).rejects.toMatchObject({ code: 'MEADOW_ERR_TARGET_FORBIDDEN' });
    },
  );

  it('refuses the relay’s own addresses and listening ports, and exit-policy ports', () => {
    const g = guard();
    expect(g.refusal('93.184.216.99', 443)).toMatch(/own address/);
    expect(g.refusal('93.184.216.34', 4001)).toMatch(/listens on/);
    expect(g.refusal('93.184.216.34', 25)).toMatch(/exit policy rule "reject \*:25"/);
    expect(g.refusal('93.184.216.34', 443)).toBeUndefined();
  });

  it('allows one exact test-only host:port, and nothing beside it', () => {
    const g = guard(['127.0.0.1:8080']);
    expect(g.refusal('127.0.0.1', 8080)).toBeUndefined();
    expect(g.refusal('127.0.0.1', 8081)).toMatch(/loopback/);
    expect(g.refusal('127.0.0.2', 8080)).toMatch(/loopback/);
  });

  it('declines the household’s sites and every name under them, before any lookup, and nothing else', async () => {
    const g = new EgressGuard({
      policy: new ExitPolicy(DEFAULT_EXIT_POLICY),
      household: new HouseholdNetworks({ interfaces: () => ({}) }),
      ownPorts: new Set(),
      allowExactTargets: new Set(),
      refuseDomains: new Set(['bank.example', 'tracker.co.uk']),
    });
    expect(g.declinedDomain('bank.example')).toBe('bank.example');
    expect(g.declinedDomain('www.eu.bank.example')).toBe('bank.example');
    expect(g.declinedDomain('notbank.example')).toBeUndefined();
    expect(g.declinedDomain('bank.example.net')).toBeUndefined();
    expect(g.declinedDomain('co.uk')).toBeUndefined();
    expect(g.declinedDomain('93.184.216.34')).toBeUndefined();
    // No DNS query is made: the name does not even exist.
    await expect(g.resolve({ host: 'login.bank.example', port: 443 })).rejects.toMatchObject({
      code: 'MEADOW_ERR_RELAY_DECLINED',
      hop: 'relay',
      message: 'this household does not share its connection with login.bank.example (bank.example)',
    });
  });

  it('names the DNS failure for a name that does not resolve', async () => {
    await expect(guard().resolve({ host: 'no-such-host.invalid', port: 80 })).rejects.toMatchObject({
      code: 'MEADOW_ERR_DNS_FAILED',
    });
  });
});

describe('ExitPolicy', () => {
  it('takes the first matching rule', () => {
    const policy = new ExitPolicy([
      'accept 93.184.216.0/24:25',
      'reject *:25',
      'reject [2001:db8::]/32:*',
      'accept *:*',
    ]);
    expect(policy.decide('93.184.216.34', 25).allowed).toBe(true);
    expect(policy.decide('1.1.1.1', 25)).toEqual({ allowed: false, rule: 'reject *:25' });
    expect(policy.decide('1.1.1.1', 80).allowed).toBe(true);
  });

  it('summarises the ports refused everywhere for the descriptor', () => {
    expect(new ExitPolicy(DEFAULT_EXIT_POLICY).rejectedPorts()).toEqual([25, 135, 136, 137, 138, 139, 445, 465, 587]);
  });

  it.each([
    ['allow *:80', /expected/],
    ['reject *', /missing/],
    ['reject 10.0.0.0/33:80', /prefix/],
    ['reject *:0', /port range/],
    ['reject *:90-80', /port range/],
    ['reject example.com:80', /not an IP/],
  ])('rejects the malformed rule %j with a reason', (rule, message) => {
    expect(() => new ExitPolicy([rule])).toThrow(message);
  });
});
