import { describe, expect, it } from 'vitest';
import { parseUsername } from '../src/index.ts';

describe('proxy username grammar', () => {
  it.each([
    ['acme', { customer: 'acme', sessionTtlMinutes: 10, strict: false }],
    ['acme-country-de', { customer: 'acme', country: 'DE', sessionTtlMinutes: 10, strict: false }],
    [
      'acme-COUNTRY-Fr-session-session_AbC123xyZ9',
      { customer: 'acme', country: 'FR', session: 'session_AbC123xyZ9', sessionTtlMinutes: 10, strict: false },
    ],
    [
      'acme-session-s1-sesstime-1440-strict',
      { customer: 'acme', session: 's1', sessionTtlMinutes: 1440, strict: true },
    ],
  ])('parses %s', (username, expected) => {
    expect(parseUsername(username)).toEqual(expected);
  });

  it.each([
    ['acme-country-deu', /ISO 3166-1/],
    ['acme-country-xx', /country "xx" is not an ISO 3166-1 alpha-2 country code/],
    ['acme-country-uk', /country "uk" is not an ISO 3166-1 alpha-2 code: the code for United Kingdom is GB/],
    ['acme-country', /needs a value/],
    ['acme-session-bad!id', /session id/],
    ['acme-session-s-sesstime-0', /sesstime/],
    ['acme-session-s-sesstime-1441', /sesstime/],
    ['acme-session-s-sesstime-1.5', /sesstime/],
    ['acme-sesstime-5', /needs a session/],
    ['acme-strict', /needs a session/],
    ['acme-zone-x', /unknown username parameter "zone"/],
    ['acme-country-de-country-fr', /given twice/],
    ['', /customer name/],
  ])('rejects %j with a reason', (username, reason) => {
    expect(() => parseUsername(username)).toThrow(reason);
    try {
      parseUsername(username);
    } catch (err) {
      expect((err as { code: string }).code).toBe('MEADOW_ERR_BAD_USERNAME');
    }
  });
});
