import { describe, expect, it, onTestFinished } from 'vitest';
import { exportLedger } from '../src/export.ts';
import { Ledger } from '../src/ledger.ts';
import { checkSettlement } from '../src/settlement.ts';
import { SqliteLedgerStore } from '../src/sqlite-store.ts';
import { verifyExport } from '../src/verify.ts';
import { buildHistory, cosign, gatewaySigner, NETWORK, relayA, relayB } from './fixture.ts';

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

describe('the gateway ledger', () => {
  it('closes epochs whose export verifies, and whose rewards sum to the pool', async () => {
    const store = new SqliteLedgerStore(':memory:');
    await buildHistory(store);
    const result = await verifyExport(await collect(exportLedger(store, { network: NETWORK })));
    expect(result).toMatchObject({ ok: true, summary: { epochs: 2, receipts: 13, disputes: 1, unsettledReceipts: 1 } });
    if (!result.ok) return;
    const paid = Object.values(result.summary.rewards).reduce((a, b) => a + b, 0);
    expect(paid).toBe(result.summary.providerPoolMicros);
    // Epoch 1: 246 913 + 1 481 481 micros of revenue, 95% of it to providers; epoch 2: 246 913 + 2 962 962.
    expect(result.summary.revenueMicros).toBe(1_728_394 + 3_209_875);
    expect(result.summary.providerPoolMicros).toBe(1_641_974 + 3_049_381);
  });

  it('gives each relay a settlement it can check on its own against the signed root', async () => {
    const store = new SqliteLedgerStore(':memory:');
    const ledger = await Ledger.open({ network: NETWORK, feePpm: 0 }, { store, signer: gatewaySigner });
    for (const relay of [relayA, relayB]) {
      const proposal = ledger.propose(relay.peerId, { bytesToTarget: 10, bytesFromTarget: 20, tunnels: 1 }, 1);
      await ledger.recordReceipt(cosign(proposal, relay), { relay: relay.peerId });
    }
    const closed = await ledger.closeEpoch({
      startedAt: 0,
      endedAt: 1,
      revenue: [{ customer: 'c', bytes: 60, priceMicrosPerGb: 10 ** 9 }],
    });
    expect(closed.settlements).toHaveLength(2);
    for (const s of closed.settlements) {
      expect(checkSettlement(s, s.receipt.relay)).toEqual({ ok: true, micros: 30, bytes: 30 });
    }
    const [first, second] = closed.settlements as [(typeof closed.settlements)[0], (typeof closed.settlements)[0]];
    expect(checkSettlement(first, second.receipt.relay)).toMatchObject({ ok: false, problem: /is for relay/ });
    expect(checkSettlement({ ...first, proof: second.proof }, first.receipt.relay)).toMatchObject({
      ok: false,
      problem: /inclusion proof/,
    });
    const richer = { ...first.header, rewards: first.header.rewards.map((r) => ({ ...r, micros: r.micros + 1 })) };
    expect(checkSettlement({ ...first, header: richer }, first.receipt.relay)).toMatchObject({
      ok: false,
      problem: /signature on epoch/,
    });
  });

  it('settles a channel whose receipt counts tunnels but no bytes: no reward line, and the relay accepts it', async () => {
    const store = new SqliteLedgerStore(':memory:');
    const ledger = await Ledger.open({ network: NETWORK, feePpm: 0 }, { store, signer: gatewaySigner });
    // A tunnel that opened late in the epoch and had moved nothing yet when the epoch closed.
    const idle = ledger.propose(relayA.peerId, { bytesToTarget: 0, bytesFromTarget: 0, tunnels: 1 }, 1);
    await ledger.recordReceipt(cosign(idle, relayA), { relay: relayA.peerId });
    const carrying = ledger.propose(relayB.peerId, { bytesToTarget: 10, bytesFromTarget: 20, tunnels: 1 }, 1);
    await ledger.recordReceipt(cosign(carrying, relayB), { relay: relayB.peerId });
    const closed = await ledger.closeEpoch({
      startedAt: 0,
      endedAt: 1,
      revenue: [{ customer: 'c', bytes: 30, priceMicrosPerGb: 10 ** 9 }],
    });
    expect(closed.header.receipts).toBe(2);
    expect(closed.header.rewards.map((r) => r.relay)).toEqual([relayB.peerId]);
    const settlementOf = (relay: string) => {
      const found = closed.settlements.find((s) => s.receipt.relay === relay);
      if (found == null) throw new Error(`no settlement for ${relay}`);
      return found;
    };
    expect(checkSettlement(settlementOf(relayA.peerId), relayA.peerId)).toEqual({ ok: true, micros: 0, bytes: 0 });
    expect(checkSettlement(settlementOf(relayB.peerId), relayB.peerId)).toEqual({ ok: true, micros: 30, bytes: 30 });
    // A header that leaves out a relay that did carry bytes is still refused.
    const busy = settlementOf(relayB.peerId);
    expect(checkSettlement({ ...busy, header: { ...busy.header, rewards: [] } }, relayB.peerId)).toMatchObject({
      ok: false,
      problem: /reward line does not match the receipt's 30 bytes/,
    });
  });

  it('rejects receipts for a closed epoch, a lower seq, a smaller total, the wrong relay or gateway, or a bad signature', async () => {
    const store = new SqliteLedgerStore(':memory:');
    const ledger = await Ledger.open({ network: NETWORK, feePpm: 0 }, { store, signer: gatewaySigner });
    const first = cosign(
      ledger.propose(relayA.peerId, { bytesToTarget: 100, bytesFromTarget: 100, tunnels: 2 }, 1),
      relayA,
    );
    const second = cosign(
      ledger.propose(relayA.peerId, { bytesToTarget: 200, bytesFromTarget: 200, tunnels: 3 }, 2),
      relayA,
    );
    await ledger.recordReceipt(second, { relay: relayA.peerId });
    await expect(ledger.recordReceipt(first, { relay: relayA.peerId })).rejects.toMatchObject({ reason: 'stale-seq' });
    await expect(ledger.recordReceipt(second, { relay: relayA.peerId })).rejects.toMatchObject({ reason: 'stale-seq' });
    const smaller = cosign(
      ledger.propose(relayA.peerId, { bytesToTarget: 150, bytesFromTarget: 250, tunnels: 3 }, 3),
      relayA,
    );
    await expect(ledger.recordReceipt(smaller, { relay: relayA.peerId })).rejects.toMatchObject({
      reason: 'smaller-total',
    });
    const forB = cosign(ledger.propose(relayB.peerId, { bytesToTarget: 1, bytesFromTarget: 1, tunnels: 1 }, 4), relayB);
    await expect(ledger.recordReceipt(forB, { relay: relayA.peerId })).rejects.toMatchObject({ reason: 'wrong-relay' });
    const signedByA = cosign(
      ledger.propose(relayB.peerId, { bytesToTarget: 1, bytesFromTarget: 1, tunnels: 1 }, 5),
      relayA,
    );
    await expect(ledger.recordReceipt(signedByA, { relay: relayB.peerId })).rejects.toMatchObject({
      reason: 'bad-relay-signature',
    });
    const badGateway = { ...forB, gatewaySig: forB.relaySig };
    await expect(ledger.recordReceipt(badGateway, { relay: relayB.peerId })).rejects.toMatchObject({
      reason: 'bad-gateway-signature',
    });
    const otherGateway = cosign(
      {
        ...ledger.propose(relayB.peerId, { bytesToTarget: 1, bytesFromTarget: 1, tunnels: 1 }, 6),
        gateway: relayA.peerId,
      },
      relayB,
    );
    await expect(ledger.recordReceipt(otherGateway, { relay: relayB.peerId })).rejects.toMatchObject({
      reason: 'wrong-gateway',
    });
    const late = cosign(ledger.propose(relayB.peerId, { bytesToTarget: 9, bytesFromTarget: 9, tunnels: 1 }, 7), relayB);
    await ledger.closeEpoch({ startedAt: 0, endedAt: 8, revenue: [] });
    await expect(ledger.recordReceipt(late, { relay: relayB.peerId })).rejects.toMatchObject({
      reason: 'closed-epoch',
    });
    // Nothing rejected reached the store: the chain still verifies.
    expect(await verifyExport(await collect(exportLedger(store, { network: NETWORK })))).toMatchObject({ ok: true });
  });

  it('resumes after a restart at the right epoch and seq, re-checking the open epoch', async () => {
    const fs = await import('node:fs/promises');
    const dir = await fs.mkdtemp('/tmp/meadow-ledger-');
    onTestFinished(() => fs.rm(dir, { recursive: true, force: true }));
    const path = `${dir}/ledger.db`;
    const ledger = await buildHistory(new SqliteLedgerStore(path));
    const head = ledger.head;
    await ledger.store.close();
    const reopened = await Ledger.open(
      { network: NETWORK, feePpm: 50_000 },
      { store: new SqliteLedgerStore(path), signer: gatewaySigner },
    );
    expect(reopened.openEpoch).toBe(3);
    expect(reopened.head).toEqual(head);
    expect(reopened.latest(relayA.peerId)?.seq).toBe(1);
    expect(reopened.propose(relayA.peerId, { bytesToTarget: 6, bytesFromTarget: 6, tunnels: 1 }, 0).seq).toBe(2);
    await reopened.store.close();
  });
});
