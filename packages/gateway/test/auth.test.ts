import { describe, expect, it } from 'vitest';
import { CustomerStore } from '../src/customer-store.ts';
import { AuthThrottle, authenticate } from '../src/customers.ts';

describe('authentication', () => {
  const store = new CustomerStore(':memory:');
  const { apiKey } = store.add('acme', { quotaBytes: 10, maxTunnels: 3 });

  it('accepts the right key and returns the plan with the parsed username', () => {
    const { customer, params } = authenticate(store, 'acme-country-de', apiKey);
    expect(customer).toEqual({ name: 'acme', quotaBytes: 10, maxTunnels: 3 });
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
