import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DescriptorError, encodeDescriptor, type RelayDescriptor, verifyDescriptor } from '../src/descriptor.ts';
import { descriptorKey } from '../src/keys.ts';

describe('the descriptor decoder under arbitrary input', () => {
  it('rejects arbitrary bytes with a DescriptorError, and every single-byte change of a valid record', async () => {
    const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(7));
    const peerId = peerIdFromPrivateKey(key).toString();
    const now = 1_767_225_600_000;
    const descriptor: RelayDescriptor = {
      peerId,
      addrs: ['/ip4/192.0.2.10/tcp/4001'],
      country: 'DE',
      capacityBytesPerSecond: 12_500_000,
      state: 'serving',
      remainingBytes: null,
      maxTunnels: 512,
      rejectedPorts: [25],
      softwareVersion: '0.1.0',
      payoutAddress: 'payout-1',
      issuedAt: now,
      expiresAt: now + 1_800_000,
    };
    const valid = await encodeDescriptor(descriptor, key);
    const keyBytes = descriptorKey(peerId);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 5_000 }), async (bytes) => {
        await expect(verifyDescriptor(keyBytes, bytes, now)).rejects.toBeInstanceOf(DescriptorError);
      }),
      { numRuns: 500 },
    );
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: valid.byteLength - 1 }), fc.integer({ min: 1, max: 255 }), async (at, xor) => {
        const changed = Uint8Array.from(valid);
        changed[at] = (changed[at] as number) ^ xor;
        await expect(verifyDescriptor(keyBytes, changed, now)).rejects.toBeInstanceOf(DescriptorError);
      }),
      { numRuns: 500 },
    );
  });
});
