import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createSigner,
  disputeMessage,
  fromHex,
  Ledger,
  nodeVerify,
  peerPublicKey,
  receiptResultLabel,
  type Settlement,
  SqliteLedgerStore,
} from '@meadow/ledger';
import { LiveCounter } from '@meadow/protocol';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { ReceiptBook } from '../src/receipts/receipt-book.ts';
import { ReceiptDesk } from '../src/receipts/receipt-desk.ts';

const gateway = createSigner(new Uint8Array(32).fill(11));
const relay = createSigner(new Uint8Array(32).fill(12));
const MiB = 1_048_576;

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

async function setup() {
  const dir = await mkdtemp(join(tmpdir(), 'meadow-desk-'));
  dirs.push(dir);
  const book = new ReceiptBook(join(dir, 'receipts.db'));
  const counter = new LiveCounter('relay');
  const results: string[] = [];
  const desk = new ReceiptDesk(
    { network: 'meadow', toleranceBytes: MiB, toleranceRatio: 0.01 },
    { book, signer: relay, counter, logger: pino({ level: 'silent' }), onResult: (r) => results.push(r) },
  );
  const ledger = await Ledger.open(
    { network: 'meadow', feePpm: 0 },
    { store: new SqliteLedgerStore(':memory:'), signer: gateway },
  );
  /** Sets what the relay itself counted for the gateway (as a persisted meter would). */
  const relayCounted = (bytesToTarget: number, bytesFromTarget: number, tunnels = 1) =>
    counter.restore(gateway.peerId, { bytesToTarget, bytesFromTarget, tunnels });
  return { dir, book, desk, ledger, relayCounted, results };
}

describe('the relay countersigns only what it carried', () => {
  it('signs a proposal within the tolerance, keeping its copy before it answers', async () => {
    const { book, desk, ledger, relayCounted } = await setup();
    relayCounted(10 * MiB, 50 * MiB);
    const proposal = ledger.propose(
      relay.peerId,
      { bytesToTarget: 10 * MiB - 1000, bytesFromTarget: 50 * MiB + 1000, tunnels: 1 },
      1,
    );
    const answer = desk.propose(gateway.peerId, proposal);
    expect(answer.type).toBe('signed');
    if (answer.type !== 'signed') return;
    await ledger.recordReceipt({ ...proposal, relaySig: answer.relaySig }, { relay: relay.peerId });
    expect(book.receipts()).toEqual([{ ...proposal, relaySig: answer.relaySig }]);
  });

  it('disputes an inflated count beyond the tolerance with both figures, signed, and keeps disputing it', async () => {
    const { book, desk, ledger, relayCounted } = await setup();
    relayCounted(10 * MiB, 10 * MiB);
    for (let i = 0; i < 2; i++) {
      const proposal = ledger.propose(
        relay.peerId,
        { bytesToTarget: 10 * MiB, bytesFromTarget: 12 * MiB, tunnels: 1 },
        1,
      );
      const answer = desk.propose(gateway.peerId, proposal);
      expect(answer.type).toBe('disputed');
      if (answer.type !== 'disputed') return;
      expect(answer.dispute).toMatchObject({
        proposed: { bytesFromTarget: 12 * MiB },
        relayCount: { bytesFromTarget: 10 * MiB },
        reason: `bytesFromTarget ${12 * MiB} vs ${10 * MiB}`,
      });
      expect(
        nodeVerify(peerPublicKey(relay.peerId), disputeMessage(answer.dispute), fromHex(answer.dispute.relaySig)),
      ).toBe(true);
      await ledger.recordDispute(answer.dispute);
    }
    expect(book.disputes()).toHaveLength(2);
    expect(book.receipts()).toHaveLength(0);
  });

  it('signs an undercount under protest, putting the shortfall on record once', async () => {
    const { book, desk, ledger, relayCounted } = await setup();
    relayCounted(40 * MiB, 40 * MiB);
    const low = ledger.propose(relay.peerId, { bytesToTarget: 40 * MiB, bytesFromTarget: 20 * MiB, tunnels: 1 }, 1);
    const first = desk.propose(gateway.peerId, low);
    expect(first).toMatchObject({
      type: 'signed',
      dispute: { proposed: { bytesFromTarget: 20 * MiB }, relayCount: { bytesFromTarget: 40 * MiB } },
    });
    const same = ledger.propose(relay.peerId, { bytesToTarget: 40 * MiB, bytesFromTarget: 20 * MiB, tunnels: 1 }, 2);
    const second = desk.propose(gateway.peerId, same);
    expect(second.type).toBe('signed');
    expect(second).not.toHaveProperty('dispute');
    relayCounted(40 * MiB, 80 * MiB);
    const further = ledger.propose(relay.peerId, { bytesToTarget: 40 * MiB, bytesFromTarget: 30 * MiB, tunnels: 1 }, 3);
    expect(desk.propose(gateway.peerId, further)).toMatchObject({
      type: 'signed',
      dispute: { relayCount: { bytesFromTarget: 80 * MiB } },
    });
    expect(book.disputes()).toHaveLength(2);
    expect(book.receipts()).toHaveLength(3);
  });

  it('refuses proposals for another relay, from another gateway, for another network, or with a bad signature', async () => {
    const { desk, ledger } = await setup();
    const p = ledger.propose(relay.peerId, { bytesToTarget: 0, bytesFromTarget: 0, tunnels: 0 }, 1);
    expect(desk.propose(gateway.peerId, { ...p, relay: gateway.peerId })).toMatchObject({
      type: 'refused',
      reason: 'wrong-relay',
    });
    expect(desk.propose(relay.peerId, p)).toMatchObject({ type: 'refused', reason: 'wrong-gateway' });
    expect(desk.propose(gateway.peerId, { ...p, network: 'other' })).toMatchObject({
      type: 'refused',
      reason: 'wrong-network',
    });
    expect(desk.propose(gateway.peerId, { ...p, bytesFromTarget: 1 })).toMatchObject({
      type: 'refused',
      reason: 'bad-gateway-signature',
    });
  });

  it('refuses a replayed or lower seq, a smaller total, and an epoch it has moved past', async () => {
    const { desk, ledger, relayCounted } = await setup();
    relayCounted(5 * MiB, 5 * MiB);
    const first = ledger.propose(relay.peerId, { bytesToTarget: 5 * MiB, bytesFromTarget: 5 * MiB, tunnels: 1 }, 1);
    const second = ledger.propose(relay.peerId, { bytesToTarget: 5 * MiB, bytesFromTarget: 4 * MiB, tunnels: 1 }, 2);
    const signed = desk.propose(gateway.peerId, first);
    expect(signed.type).toBe('signed');
    expect(desk.propose(gateway.peerId, first)).toMatchObject({ type: 'refused', reason: 'stale-seq' });
    expect(desk.propose(gateway.peerId, second)).toMatchObject({ type: 'refused', reason: 'smaller-total' });
    if (signed.type !== 'signed') return;
    await ledger.recordReceipt({ ...first, relaySig: signed.relaySig }, { relay: relay.peerId });
    await ledger.closeEpoch({ startedAt: 0, endedAt: 1, revenue: [] });
    // Epoch 2 starts from what epoch 1 settled: the relay's own count for it is zero again.
    const fresh = ledger.propose(relay.peerId, { bytesToTarget: 0, bytesFromTarget: 0, tunnels: 0 }, 3);
    expect(desk.propose(gateway.peerId, fresh).type).toBe('signed');
    expect(desk.propose(gateway.peerId, { ...first })).toMatchObject({ type: 'refused', reason: 'closed-epoch' });
  });

  it('accepts its settlement only when the proof checks against the signed root', async () => {
    const { book, desk, ledger, relayCounted } = await setup();
    relayCounted(1_000, 2_000);
    const p = ledger.propose(relay.peerId, { bytesToTarget: 1_000, bytesFromTarget: 2_000, tunnels: 1 }, 1);
    const answer = desk.propose(gateway.peerId, p);
    if (answer.type !== 'signed') throw new Error('expected a signature');
    await ledger.recordReceipt({ ...p, relaySig: answer.relaySig }, { relay: relay.peerId });
    const { settlements } = await ledger.closeEpoch({
      startedAt: 0,
      endedAt: 1,
      revenue: [{ customer: 'c', bytes: 3_000, priceMicrosPerGb: 10 ** 9 }],
    });
    const settlement = settlements[0];
    if (settlement == null) throw new Error('expected a settlement');
    expect(desk.settle(relay.peerId, settlement)).toMatchObject({ type: 'refused', reason: 'wrong-gateway' });
    expect(desk.settle(gateway.peerId, { ...settlement, leafIndex: 1 })).toMatchObject({
      type: 'refused',
      reason: 'bad-settlement',
    });
    expect(desk.settle(gateway.peerId, settlement)).toEqual({ type: 'settled' });
    expect(book.earnings()).toMatchObject([{ epoch: 1, bytes: 3_000, micros: 3_000 }]);
  });

  it('counts every answer under a label the household can alert on, from a fixed set', async () => {
    const { desk, ledger, relayCounted, results } = await setup();
    relayCounted(40 * MiB, 40 * MiB);
    const propose = (bytesFromTarget: number, at: number) =>
      desk.propose(
        gateway.peerId,
        ledger.propose(relay.peerId, { bytesToTarget: 40 * MiB, bytesFromTarget, tunnels: 1 }, at),
      );
    propose(40 * MiB, 1);
    propose(80 * MiB, 2);
    relayCounted(40 * MiB, 80 * MiB);
    propose(50 * MiB, 3);
    desk.propose(relay.peerId, ledger.propose(relay.peerId, { bytesToTarget: 0, bytesFromTarget: 0, tunnels: 0 }, 4));
    expect(results).toEqual(['signed', 'disputed', 'signed_under_protest', 'refused_wrong-gateway']);
    // The gateway labels what a relay answers the same way; a reason it does not know (a relay's
    // word, up to 64 characters) must not become a label of its own.
    expect(receiptResultLabel({ type: 'refused', reason: 'made-up-reason-1', message: '' })).toBe('refused_other');
    expect(receiptResultLabel({ type: 'refused', reason: 'closed-epoch', message: '' })).toBe('refused_closed-epoch');
  });
});

describe('where the bytes a relay carried stand', () => {
  it('accounts for every byte: in no receipt yet, co-signed until its epoch is settled, then settled', async () => {
    const { desk, ledger, relayCounted } = await setup();
    const sign = async (bytesToTarget: number, bytesFromTarget: number, at: number): Promise<void> => {
      const proposal = ledger.propose(relay.peerId, { bytesToTarget, bytesFromTarget, tunnels: 1 }, at);
      const answer = desk.propose(gateway.peerId, proposal);
      if (answer.type !== 'signed') throw new Error(`expected a signature, got ${answer.type}`);
      await ledger.recordReceipt({ ...proposal, relaySig: answer.relaySig }, { relay: relay.peerId });
    };
    const where = () => desk.whereBytesAre(gateway.peerId);

    relayCounted(1_000, 9_000);
    expect(where()).toEqual({
      gateway: gateway.peerId,
      carriedBytes: 10_000,
      settledBytes: 0,
      awaitingCloseBytes: 0,
      awaitingReceiptBytes: 10_000,
      openEpoch: 0,
    });
    await sign(1_000, 7_000, 1);
    expect(where()).toMatchObject({
      settledBytes: 0,
      awaitingCloseBytes: 8_000,
      awaitingReceiptBytes: 2_000,
      openEpoch: 1,
    });
    const closed = await ledger.closeEpoch({
      startedAt: 0,
      endedAt: 1,
      revenue: [{ customer: 'c', bytes: 8_000, priceMicrosPerGb: 10 ** 9 }],
    });
    expect(desk.settle(gateway.peerId, closed.settlements[0] as Settlement)).toEqual({ type: 'settled' });
    expect(where()).toMatchObject({ settledBytes: 8_000, awaitingCloseBytes: 0, awaitingReceiptBytes: 2_000 });

    // Epoch 2 signs the carry-over and part of what came since.
    relayCounted(1_500, 13_500);
    await sign(500, 4_000, 2);
    expect(where()).toMatchObject({
      carriedBytes: 15_000,
      settledBytes: 8_000,
      awaitingCloseBytes: 4_500,
      awaitingReceiptBytes: 2_500,
      openEpoch: 2,
    });
    // A settlement that never arrives leaves its bytes co-signed, not settled, after the next epoch starts.
    await ledger.closeEpoch({ startedAt: 1, endedAt: 2, revenue: [] });
    await sign(0, 1_000, 3);
    expect(where()).toMatchObject({
      carriedBytes: 15_000,
      settledBytes: 8_000,
      awaitingCloseBytes: 5_500,
      awaitingReceiptBytes: 1_500,
      openEpoch: 3,
    });
    expect(desk.unsignedBytes(gateway.peerId)).toBe(1_500);
  });
});
