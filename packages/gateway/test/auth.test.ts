import { describe, expect, it } from 'vitest';
import { CustomerStore } from '../src/customer-store.ts';
import { AuthThrottle, authenticate, VerifiedCredentials } from '../src/customers.ts';

describe('authentication', () => {
  const store = new CustomerStore(':memory:');
  const { apiKey } = store.add('acme', { quotaBytes: 10, maxTunnels: 3 });

  it('accepts the right key and returns the plan with the parsed username', () => {
    const { customer, params } = authenticate(store, 'acme-country-de', apiKey);
    expect(customer).toEqual({ name: 'acme', quotaBytes: 10, maxTunnels: 3, clients: null });
    expect(params.country).toBe('DE');
  });

  it.each([
    ['acme', 'wrong'],
    ['acme', `${apiKey}x`],
    ['acme', apiKey.slice(0, -1)],
    ['nobody', apiKey],
  ])('rejects %s with a wrong or foreign key', (user, key) => {
    expect(() => authenticate(store, user, key)).toThrow(expect.objectContaining({ code: 'MEADOW_ERR_AUTH_REQUIRED' }));
  });

  it('rejects a disabled customer', () => {
    store.setDisabled('acme', true);
    expect(() => authenticate(store, 'acme', apiKey)).toThrow(/disabled/);
    store.setDisabled('acme', false);
  });
});

describe('VerifiedCredentials', () => {
  const store = new CustomerStore(':memory:');
  const { apiKey } = store.add('acme', { quotaBytes: 10, maxTunnels: 3 });
  const principal = authenticate(store, 'acme-country-de', apiKey);

  it('remembers an exact pair that passed, for its time to live only', () => {
    const verified = new VerifiedCredentials(1_000);
    verified.remember('acme-country-de', apiKey, principal, 10_000);
    expect(verified.get('acme-country-de', apiKey, 10_999)).toBe(principal);
    expect(verified.get('acme-country-de', `${apiKey}x`, 10_001)).toBeUndefined();
    expect(verified.get('acme-country-de', apiKey.slice(0, -1), 10_001)).toBeUndefined();
    expect(verified.get('acme', apiKey, 10_001)).toBeUndefined(); // another username is other parameters
    expect(verified.get(`acme-country-de\0${apiKey}`, '', 10_001)).toBeUndefined();
    expect(verified.get('acme-country-de', apiKey, 11_000)).toBeUndefined();
    expect(verified.get('acme-country-de', apiKey, 10_500)).toBeUndefined(); // an expired entry is gone
  });

  it('holds at most its limit of entries', () => {
    const verified = new VerifiedCredentials(1_000, 3);
    for (let i = 0; i < 4; i++) verified.remember(`acme-session-s${i}`, apiKey, principal, 0);
    expect(verified.get('acme-session-s3', apiKey, 1)).toBe(principal);
    expect([0, 1, 2].map((i) => verified.get(`acme-session-s${i}`, apiKey, 1))).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });
});

describe('AuthThrottle', () => {
  it('refuses an address after too many failures within the window, and forgives after it', () => {
    const throttle = new AuthThrottle(3, 1_000);
    for (let i = 0; i < 3; i++) {
      throttle.check('198.51.100.1', 100);
      throttle.fail('198.51.100.1', 100);
    }
    expect(() => throttle.check('198.51.100.1', 500)).toThrow(
      expect.objectContaining({ code: 'MEADOW_ERR_AUTH_THROTTLED' }),
    );
    expect(() => throttle.check('198.51.100.2', 500)).not.toThrow();
    expect(() => throttle.check('198.51.100.1', 1_100)).not.toThrow();
  });

  it('watches only while a failure is within the window', () => {
    const throttle = new AuthThrottle(3, 1_000);
    expect(throttle.watching(0)).toBe(false);
    throttle.fail('198.51.100.1', 100);
    expect(throttle.watching(500)).toBe(true);
    expect(throttle.watching(1_099)).toBe(true);
    expect(throttle.watching(2_100)).toBe(false);
  });
});
