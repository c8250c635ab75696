import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { sha256 } from 'multiformats/hashes/sha2';

/** The private DHT's protocol id: Meadow nodes never join the public IPFS DHT. */
export const DHT_PROTOCOL = '/meadow/kad/1.0.0';

/** A relay hands its own signed descriptor to a peer it is connected to (verified like a DHT record). */
export const DESCRIPTOR_PROTOCOL = '/meadow/descriptor/1.0.0';

/** Record namespace for signed relay descriptors: `/meadow-relay/<peer id>`. */
export const DESCRIPTOR_NAMESPACE = 'meadow-relay';

export function descriptorKey(peerId: string): Uint8Array {
  return new TextEncoder().encode(`/${DESCRIPTOR_NAMESPACE}/${peerId}`);
}

export function peerIdFromDescriptorKey(key: Uint8Array): string {
  const text = new TextDecoder().decode(key);
  const prefix = `/${DESCRIPTOR_NAMESPACE}/`;
  if (!text.startsWith(prefix)) throw new Error(`not a descriptor key: ${text}`);
  return text.slice(prefix.length);
}

async function topic(name: string): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(`meadow:${name}`)));
}

/** Provider record topics: every relay, relays per country, and gateways. */
export const topics = {
  allRelays: () => topic('relay:all'),
  relaysIn: (country: string) => topic(`relay:country:${country.toUpperCase()}`),
  gateways: () => topic('gateway'),
};
