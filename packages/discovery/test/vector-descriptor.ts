import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { RelayDescriptor } from '../src/index.ts';

/** The descriptor of docs/descriptor.md's test vector: seed 0x07 × 32, issued 2026-01-01. */
export async function vectorDescriptor(): Promise<{ key: PrivateKey; descriptor: RelayDescriptor }> {
  const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(7));
  const descriptor: RelayDescriptor = {
    peerId: peerIdFromPrivateKey(key).toString(),
    addrs: ['/ip4/192.0.2.10/tcp/4001'],
    country: 'DE',
    capacityBytesPerSecond: 12_500_000,
    state: 'serving',
    remainingBytes: null,
    maxTunnels: 512,
    rejectedPorts: [25, 465, 587],
    softwareVersion: '0.1.0',
    payoutAddress: 'payout-1',
    issuedAt: 1_767_225_600_000,
    expiresAt: 1_767_227_400_000,
  };
  return { key, descriptor };
}
