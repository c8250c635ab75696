import { describe, expect, it } from 'vitest';
import { CountryChecker, isPublicAddress, sybilNetwork } from '../src/index.ts';

describe('country check against the offline GeoIP database', () => {
  it('pools a relay under the observed country when its claim does not match (fixture address in Germany)', async () => {
    const checker = await CountryChecker.open();
    expect(checker.lookup('193.99.144.80')).toBe('DE');
    expect(checker.check('FR', '193.99.144.80')).toEqual({
      country: 'DE',
      claimed: 'FR',
      observed: 'DE',
      mismatch: true,
    });
    expect(checker.check('DE', '193.99.144.80')).toEqual({
      country: 'DE',
      claimed: 'DE',
      observed: 'DE',
      mismatch: false,
    });
    expect(checker.check('AU', '2a00:1450:4001::1').observed).toBe('DE');
  });

  it('takes the claim as it is for addresses GeoIP cannot judge (loopback, private)', async () => {
    const checker = await CountryChecker.open();
    for (const address of ['127.0.0.2', '10.1.2.3', '192.168.1.5', '::1', 'fd00::1', undefined]) {
      expect(checker.check('NL', address)).toEqual({ country: 'NL', claimed: 'NL', mismatch: false });
    }
  });
});

describe('Sybil accounting', () => {
  it('groups IPv4 by /24 and IPv6 by /48, and only counts public addresses', () => {
    expect(sybilNetwork('203.0.113.77')).toBe('203.0.113.0/24');
    expect(sybilNetwork('::ffff:198.51.100.9')).toBe('198.51.100.0/24');
    expect(sybilNetwork('2001:db8:abcd:12::1')).toBe('2001:db8:abcd::/48');
    expect(isPublicAddress('93.184.216.34')).toBe(true);
    expect(isPublicAddress('127.0.0.3')).toBe(false);
    expect(isPublicAddress('100.64.1.1')).toBe(false);
    expect(isPublicAddress('2606:4700::1111')).toBe(true);
    expect(isPublicAddress('fe80::1')).toBe(false);
  });
});
