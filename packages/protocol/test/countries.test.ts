import { describe, expect, it } from 'vitest';
import { countryCodeProblem, countryName } from '../src/countries.ts';

describe('country codes', () => {
  it.each(['DE', 'de', 'Us', 'GB', 'XK', 'AX', 'ZW'])('accepts %s', (code) => {
    expect(countryCodeProblem(code)).toBeUndefined();
  });

  it.each([
    ['UK', '"UK" is not an ISO 3166-1 alpha-2 code: the code for United Kingdom is GB'],
    ['el', '"el" is not an ISO 3166-1 alpha-2 code: the code for Greece is GR'],
    ['EU', '"EU" is not a country; give one ISO 3166-1 alpha-2 code like DE'],
    ['XX', '"XX" is not an ISO 3166-1 alpha-2 country code (e.g. DE, GB, US)'],
    ['ZZ', '"ZZ" is not an ISO 3166-1 alpha-2 country code (e.g. DE, GB, US)'],
    ['SU', '"SU" is not an ISO 3166-1 alpha-2 country code (e.g. DE, GB, US)'],
    ['DEU', '"DEU" is not an ISO 3166-1 alpha-2 country code (e.g. DE, GB, US)'],
    ['', '"" is not an ISO 3166-1 alpha-2 country code (e.g. DE, GB, US)'],
  ])('rejects %j and says why', (code, message) => {
    expect(countryCodeProblem(code)).toBe(message);
  });

  it('names countries in English and leaves unknown codes as they are', () => {
    expect(countryName('DE')).toBe('Germany');
    expect(countryName('JP')).toBe('Japan');
    expect(countryName('XX')).toBe('XX');
  });
});
