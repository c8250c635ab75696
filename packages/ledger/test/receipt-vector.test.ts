import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { toHex } from '../src/canonical.ts';
import { receiptLeaf } from '../src/chain.ts';
import { entryHash, GENESIS_HASH } from '../src/entries.ts';
import { receiptMessage } from '../src/receipt.ts';
import { createSigner, nodeVerify, portableVerify } from '../src/signatures.ts';

describe('the receipt test vector in docs/receipts.md', () => {
  it('is reproduced byte for byte, and both verifiers accept it', async () => {
    const gateway = createSigner(new Uint8Array(32).fill(1));
    const relay = createSigner(new Uint8Array(32).fill(2));
    const fields = {
      network: 'meadow',
      epoch: 7,
      gateway: gateway.peerId,
      relay: relay.peerId,
      seq: 3,
      bytesToTarget: 1_048_576,
      bytesFromTarget: 52_428_800,
      tunnels: 12,
      issuedAt: 1_767_225_600_000,
    };
    const message = receiptMessage(fields);
    const receipt = { ...fields, gatewaySig: toHex(gateway.sign(message)), relaySig: toHex(relay.sign(message)) };
    const doc = await readFile(new URL('../../../docs/receipts.md', import.meta.url), 'utf8');
    for (const value of [
      gateway.peerId,
      relay.peerId,
      toHex(message),
      receipt.gatewaySig,
      receipt.relaySig,
      toHex(receiptLeaf(receipt)),
      entryHash({ gateway: gateway.peerId, index: 0, kind: 'receipt', body: receipt, prev: GENESIS_HASH }),
    ]) {
      expect(doc).toContain(value);
    }
    expect(message.length).toBe(149);
    for (const verify of [nodeVerify, portableVerify]) {
      expect(verify(gateway.publicKey, message, Buffer.from(receipt.gatewaySig, 'hex'))).toBe(true);
      expect(verify(relay.publicKey, message, Buffer.from(receipt.relaySig, 'hex'))).toBe(true);
    }
  });
});
