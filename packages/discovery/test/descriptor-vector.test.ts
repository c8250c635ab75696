import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { descriptorKey, encodeDescriptor, verifyDescriptor } from '../src/index.ts';
import { vectorDescriptor } from './vector-descriptor.ts';

describe('the descriptor test vector in docs/descriptor.md', () => {
  it('is reproduced byte for byte and verifies', async () => {
    const { key, descriptor } = await vectorDescriptor();
    const peerId = descriptor.peerId;
    expect(peerId).toBe('12D3KooWRawPbxPtP1eZaJpumGnyWX2DcUyd3RQnydr3eAto4Az7');
    const hex = Buffer.from(await encodeDescriptor(descriptor, key)).toString('hex');
    const doc = await readFile(new URL('../../../docs/descriptor.md', import.meta.url), 'utf8');
    expect(doc).toContain(hex);
    const value = Buffer.from(hex, 'hex');
    expect(await verifyDescriptor(descriptorKey(peerId), value, 1_767_225_600_000)).toEqual(descriptor);
  });
});
