import { describe, expect, it } from 'vitest';
import { clientNetworkProblem } from '../src/client-network.ts';

describe('clientNetworkProblem', () => {
  it.each(['203.0.113.7', '203.0.113.0/24', '0.0.0.0/0', '2001:db8::/32', '2001:db8::1', '::/0'])(
    'accepts %s',
    (text) => {
      expect(clientNetworkProblem(text)).toBeUndefined();
    },
  );

  it.each([
    ['gateway.example', /not an IP address or network/],
    ['203.0.113.0/33', /prefix length must be 0-32/],
    ['2001:db8::/129', /prefix length must be 0-128/],
    ['203.0.113.0/24/8', /not an IP address or network/],
    ['203.0.113.0/', /prefix length/],
    ['203.0.113.0/-1', /prefix length/],
  ])('refuses %s and says why', (text, why) => {
    expect(clientNetworkProblem(text)).toMatch(why);
  });
});
