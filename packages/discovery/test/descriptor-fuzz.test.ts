import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DescriptorError, encodeDescriptor, verifyDescriptor } from '../src/descriptor.ts';
import { descriptorKey } from '../src/keys.ts';
import { vectorDescriptor } from './vector-descriptor.ts';

describe('the descriptor decoder under arbitrary input', () => {
  it('rejects arbitrary bytes with a DescriptorError, and every single-byte change of a valid record', async () => {
    const { key, descriptor } = await vectorDescriptor();
    const now = descriptor.issuedAt;
    const peerId = descriptor.peerId;
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
