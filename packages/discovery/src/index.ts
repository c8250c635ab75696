/**
 * @meadow/discovery — the libp2p host every Meadow role runs, and the private Kademlia DHT
 * (`/meadow/kad/1.0.0`) through which relays and gateways find each other.
 *
 * @example
 * ```ts
 * import { createDiscovery } from '@meadow/discovery'
 * const d = await createDiscovery({ identityPath: 'relay.key', listen: [], bootstrap: ['/ip4/127.0.0.1/tcp/4001/p2p/12D3…'],
 *   dhtMode: 'client', allowPrivateAddresses: true, agentVersion: 'meadow-relay/0.1.0' })
 * const gateways = await d.discovery.findGateways()
 * ```
 */
import type { PrivateKey } from '@libp2p/interface';
import type { Registry } from 'prom-client';
import { Discovery } from './discovery.ts';
import { loadOrCreateIdentity } from './identity.ts';
import { createDiscoveryMetrics } from './metrics.ts';
import { createMeadowNode, keepBootstrapped, type MeadowNode, type MeadowNodeInit } from './node.ts';

export interface DiscoveryInit extends Omit<MeadowNodeInit, 'privateKey'> {
  /** Path of the ed25519 identity key; created with mode 0600 on first run. */
  identityPath: string;
  bootstrap: string[];
  onBootstrapError?: (addr: string, err: Error) => void;
  /** The process's Prometheus registry, for DHT metrics. */
  registry?: Registry;
}

export interface DiscoveryHandle {
  node: MeadowNode;
  discovery: Discovery;
  identityCreated: boolean;
  /** The node's Ed25519 identity key: it also signs ledger receipts. */
  privateKey: PrivateKey;
  stop(): Promise<void>;
}

export async function createDiscovery(init: DiscoveryInit): Promise<DiscoveryHandle> {
  const { privateKey, created } = await loadOrCreateIdentity(init.identityPath);
  const node = await createMeadowNode({ ...init, privateKey });
  await node.start();
  const stopBootstrap = keepBootstrapped(node, init.bootstrap, { onError: init.onBootstrapError });
  return {
    node,
    discovery: new Discovery(
      node,
      privateKey,
      createDiscoveryMetrics(
        init.registry,
        () => (node.services.dht as unknown as { routingTable?: { size: number } }).routingTable?.size ?? 0,
      ),
    ),
    identityCreated: created,
    privateKey,
    stop: async () => {
      stopBootstrap();
      await node.stop();
      clearAddressUpdate(node);
    },
  };
}

/**
 * libp2p's address manager answers its transports closing by arming a 1 s debounce timer, and its
 * stop does not clear it: every process lingered a second after it had stopped. Reached through
 * libp2p's internals, so a later libp2p without them makes this a no-op, never an error.
 */
function clearAddressUpdate(node: MeadowNode): void {
  const internals = node as unknown as {
    components?: { addressManager?: { _updatePeerStoreAddresses?: { stop?: () => void } } };
  };
  internals.components?.addressManager?._updatePeerStoreAddresses?.stop?.();
}

export { connectionsTo, openConnectionTo } from './connections.ts';
export {
  canonicalJson,
  DESCRIPTOR_VERSION,
  DescriptorError,
  encodeDescriptor,
  MAX_DESCRIPTOR_BYTES,
  type RelayDescriptor,
  type RelayState,
  verifyDescriptor,
} from './descriptor.ts';
export {
  askDialBack,
  DIAL_BACK_ANSWER_TIMEOUT_MS,
  type DialBackAnswer,
  type DialBackOutcome,
  type DialBackResult,
  dialFailure,
  serveDialBack,
} from './dial-back.ts';
export { type DescriptorFields, Discovery } from './discovery.ts';
export { answerSiblings, askSiblings } from './gateway-siblings.ts';
export { CountryChecker, type CountryVerdict, isPublicAddress, sybilNetwork } from './geoip.ts';
export { loadOrCreateIdentity } from './identity.ts';
export { DESCRIPTOR_PROTOCOL, DHT_PROTOCOL, descriptorKey, topics } from './keys.ts';
export { LinkWatch, type WatchedLink } from './link-watch.ts';
export type { MeadowNode } from './node.ts';
export { meadowNoiseCrypto } from './noise-crypto.ts';
export { dhtDropsAddress, ipOfMultiaddr, withoutPeerId } from './private-address.ts';
