import { isPrivate } from '@libp2p/utils';
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr';

/** The multiaddr code of `/p2p/<peer id>`. */
const P2P_CODE = 421;

/** The address without its `/p2p/<peer id>`: dialled so, libp2p tries that address alone. */
export function withoutPeerId(ma: Multiaddr): Multiaddr {
  return ma.decapsulateCode(P2P_CODE);
}

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
