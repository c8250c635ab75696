import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { beforeAll, describe, expect, it } from 'vitest';
import { descriptorKey, encodeDescriptor, type RelayDescriptor, verifyDescriptor } from '../src/index.ts';

let key: PrivateKey;
let other: PrivateKey;
let peerId: string;

beforeAll(async () => {
  key = await generateKeyPair('Ed25519');
  other = await generateKeyPair('Ed25519');
  peerId = peerIdFromPrivateKey(key).toString();
});

function fields(overrides: Partial<RelayDescriptor> = {}): RelayDescriptor {
  const now = Date.now();
  return {
    peerId,
    addrs: ['/ip4/127.0.0.2/tcp/4001'],
    country: 'DE',
    capacityBytesPerSecond: 12_500_000,
    state: 'serving',
    remainingBytes: null,
    maxTunnels: 512,
    rejectedPorts: [25, 465, 587],
    softwareVersion: '0.1.0',
    payoutAddress: 'payout-1',
    issuedAt: now,
    expiresAt: now + 60_000,
    ...overrides,
  };
}

describe('relay descriptors', () => {
  it('verifies a descriptor signed by the relay’s own key', async () => {
    const value = await encodeDescriptor(fields(), key);
    expect((await verifyDescriptor(descriptorKey(peerId), value)).country).toBe('DE');
  });

  it('rejects a descriptor signed by another key', async () => {
    const value = await encodeDescriptor(fields(), other);
    await expect(verifyDescriptor(descriptorKey(peerId), value)).rejects.toThrow('bad signature');
  });

  it('rejects any flipped byte in the body or signature', async () => {
    const value = await encodeDescriptor(fields(), key);
    for (const index of [5, 40, value.byteLength - 1]) {
      const tampered = Uint8Array.from(value);
      tampered[index] = (tampered[index] as number) ^ 0x01;
      await expect(verifyDescriptor(descriptorKey(peerId), tampered)).rejects.toThrow();
    }
  });

  it('rejects a record stored under another peer’s key', async () => {
    const value = await encodeDescriptor(fields(), key);
    const otherId = peerIdFromPrivateKey(other).toString();
    await expect(verifyDescriptor(descriptorKey(otherId), value)).rejects.toThrow(/record key names/);
  });

  it('rejects expired, future-dated and over-long-lived descriptors', async () => {
    const now = Date.now();
    await expect(
      verifyDescriptor(
        descriptorKey(peerId),
        await encodeDescriptor(fields({ issuedAt: now - 120_000, expiresAt: now - 1 }), key),
      ),
    ).rejects.toThrow('expired');
    await expect(
      verifyDescriptor(
        descriptorKey(peerId),
        await encodeDescriptor(fields({ issuedAt: now + 3_600_000, expiresAt: now + 3_700_000 }), key),
      ),
    ).rejects.toThrow('future');
    await expect(
      verifyDescriptor(descriptorKey(peerId), await encodeDescriptor(fields({ expiresAt: now + 25 * 3_600_000 }), key)),
    ).rejects.toThrow('24 h');
  });

  it('rejects oversized records and invalid fields with the field name', async () => {
    await expect(verifyDescriptor(descriptorKey(peerId), new Uint8Array(5000))).rejects.toThrow('oversized');
    await expect(encodeDescriptor(fields({ country: 'Germany' }), key)).rejects.toThrow('"country"');
    // Two letters, but no country: a pool no crawler could ask for.
    await expect(encodeDescriptor(fields({ country: 'ZZ' }), key)).rejects.toThrow('"country"');
    await expect(encodeDescriptor({ ...fields(), extra: 1 } as unknown as RelayDescriptor, key)).rejects.toThrow(
      '"extra"',
    );
  });
});
