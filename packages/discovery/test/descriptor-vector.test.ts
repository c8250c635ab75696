import { readFile } from 'node:fs/promises';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { describe, expect, it } from 'vitest';
import { descriptorKey, encodeDescriptor, type RelayDescriptor, verifyDescriptor } from '../src/index.ts';

describe('the descriptor test vector in docs/descriptor.md', () => {
  it('is reproduced byte for byte and verifies', async () => {
    const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(7));
    const peerId = peerIdFromPrivateKey(key).toString();
    expect(peerId).toBe('12D3KooWRawPbxPtP1eZaJpumGnyWX2DcUyd3RQnydr3eAto4Az7');
    const descriptor: RelayDescriptor = {
      peerId,
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
    const hex = Buffer.from(await encodeDescriptor(descriptor, key)).toString('hex');
    const doc = await readFile(new URL('../../../docs/descriptor.md', import.meta.url), 'utf8');
    expect(doc).toContain(hex);
    const value = Buffer.from(hex, 'hex');
    expect(await verifyDescriptor(descriptorKey(peerId), value, 1_767_225_600_000)).toEqual(descriptor);
  });
});
