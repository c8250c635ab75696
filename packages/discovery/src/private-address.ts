import { isPrivate } from '@libp2p/utils';
import { multiaddr } from '@multiformats/multiaddr';

/** The IP address in a multiaddr such as `/ip4/203.0.113.7/tcp/4001`, if it has one. */
export function ipOfMultiaddr(ma: { getComponents(): Array<{ name: string; value?: string }> }): string | undefined {
  return ma.getComponents().find((c) => c.name === 'ip4' || c.name === 'ip6')?.value;
}

/**
 * True when the DHT drops this address from its answers unless `allowPrivateAddresses` is on:
 * loopback, RFC 1918, link-local, documentation ranges and the like, by libp2p's own rule (the one
 * its peer-info mapper applies). A node whose every bootstrap address is such reaches no DHT server.
 */
export function dhtDropsAddress(address: string): boolean {
  try {
    return isPrivate(multiaddr(address));
  } catch {
    return false;
  }
}
