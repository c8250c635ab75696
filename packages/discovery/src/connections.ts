import type { Connection, Libp2p, PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';

/**
 * The connections to one peer. libp2p's `getConnections()` without a peer concatenates every
 * peer's list onto its answer, which is quadratic in the number of peers. Searching that answer once
 * per relay (health checks, receipt rounds) cost a gateway seconds per round with a thousand relays
 * linked (docs/performance.md). Asked with the peer, it is one map lookup.
 */
export function connectionsTo(node: Pick<Libp2p, 'getConnections'>, peer: string | PeerId): Connection[] {
  let id: PeerId;
  try {
    id = typeof peer === 'string' ? peerIdFromString(peer) : peer;
  } catch {
    return []; // not a peer id: no connection can be to it
  }
  return node.getConnections(id);
}

/** An open connection to `peer`, if there is one. */
export function openConnectionTo(node: Pick<Libp2p, 'getConnections'>, peer: string | PeerId): Connection | undefined {
  return connectionsTo(node, peer).find((c) => c.status === 'open');
}
