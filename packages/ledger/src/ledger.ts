import { createHash } from 'node:crypto';
import { toHex } from './canonical.ts';
import { ChainRules, finalReceiptsInOrder, LedgerRejection, receiptLeaf } from './chain.ts';
import {
  type Counts,
  type DisputeBody,
  type EntryBodies,
  type EntryKind,
  type EpochHeader,
  entryHash,
  epochMessage,
  type LedgerEntry,
} from './entries.ts';
import { inclusionProof, merkleRoot } from './merkle.ts';
import { type ReceiptFields, receiptMessage, type SignedReceipt } from './receipt.ts';
import { computeRewards, lineMicros, type RevenueLine } from './rewards.ts';
import { nodeVerify, type Signer } from './signatures.ts';
import type { LedgerStore } from './store.ts';

export interface LedgerInit {
  network: string;
  /** Protocol fee in parts per million of revenue (50_000 = 5%). */
  feePpm: number;
}

/** What a relay receives when an epoch closes: enough to check its reward against the signed root by itself. */
export interface Settlement {
  header: EpochHeader;
  receipt: SignedReceipt;
  leafIndex: number;
  proof: string[];
}

export interface ClosedEpoch {
  header: EpochHeader;
  settlements: Settlement[];
}

/**
 * A gateway's side of the ledger: proposes receipts, records co-signed ones, disputes and revenue,
 * and closes epochs. Every entry passes the same ChainRules the public verifier applies before
 * it is written, and writes are serialised so the chain never forks.
 */
export class Ledger {
  readonly init: LedgerInit;
  readonly store: LedgerStore;
  private readonly signer: Signer;
  private readonly rules: ChainRules;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly proposedSeq = new Map<string, number>();

  private constructor(init: LedgerInit, deps: { store: LedgerStore; signer: Signer }) {
    this.init = init;
    this.store = deps.store;
    this.signer = deps.signer;
    this.rules = new ChainRules({ gateway: deps.signer.peerId, network: init.network, verify: nodeVerify });
  }

  /** Opens the gateway's chain, re-checking every entry since its last epoch header. */
  static async open(init: LedgerInit, deps: { store: LedgerStore; signer: Signer }): Promise<Ledger> {
    const ledger = new Ledger(init, deps);
    const gateway = deps.signer.peerId;
    const lastEpoch = (await deps.store.lastOfKind(gateway, 'epoch')) as LedgerEntry<'epoch'> | undefined;
    if (lastEpoch != null) ledger.rules.resumeAfter(lastEpoch);
    for await (const entry of deps.store.entries({ gateway, fromIndex: ledger.rules.nextIndex })) {
      ledger.rules.accept(entry);
    }
    return ledger;
  }

  get gateway(): string {
    return this.signer.peerId;
  }

  get openEpoch(): number {
    return this.rules.openEpoch;
  }

  get head(): { index: number; hash: string } {
    return { index: this.rules.nextIndex - 1, hash: this.rules.head };
  }

  /** The latest co-signed receipt of a relay's channel in the open epoch. */
  latest(relay: string): SignedReceipt | undefined {
    return this.rules.channels.get(relay);
  }

  openChannels(): SignedReceipt[] {
    return [...this.rules.channels.values()];
  }

  /** A new cumulative proposal for a relay's channel in the open epoch, signed by the gateway. */
  propose(relay: string, counts: Counts, issuedAt: number): ReceiptFields & { gatewaySig: string } {
    const key = `${this.openEpoch}/${relay}`;
    const seq = Math.max(this.latest(relay)?.seq ?? 0, this.proposedSeq.get(key) ?? 0) + 1;
    this.proposedSeq.set(key, seq);
    const fields: ReceiptFields = {
      network: this.init.network,
      epoch: this.openEpoch,
      gateway: this.gateway,
      relay,
      seq,
      bytesToTarget: counts.bytesToTarget,
      bytesFromTarget: counts.bytesFromTarget,
      tunnels: counts.tunnels,
      issuedAt,
    };
    return { ...fields, gatewaySig: toHex(this.signer.sign(receiptMessage(fields))) };
  }

  /** Records a receipt the relay countersigned; `relay` is the peer the signature came from, not the receipt's word. */
  recordReceipt(receipt: SignedReceipt, from: { relay: string }): Promise<LedgerEntry> {
    if (receipt.relay !== from.relay)
      return Promise.reject(
        new LedgerRejection('wrong-relay', `receipt names relay ${receipt.relay} but came from ${from.relay}`),
      );
    return this.append('receipt', receipt);
  }

  recordDispute(dispute: DisputeBody): Promise<LedgerEntry> {
    return this.append('dispute', dispute);
  }

  /**
   * Closes the open epoch: writes one revenue line per customer, then the signed header with the
   * Merkle root over each channel's final receipt and the rewards that follow from them.
   */
  closeEpoch(window: { startedAt: number; endedAt: number; revenue: RevenueLine[] }): Promise<ClosedEpoch> {
    return this.serialise(async () => {
      const epoch = this.openEpoch;
      for (const line of window.revenue) {
        if (line.bytes === 0) continue;
        await this.appendNow('revenue', { epoch, ...line, micros: lineMicros(line) });
      }
      const finals = finalReceiptsInOrder(this.rules.channels.values());
      const leaves = finals.map(receiptLeaf);
      const rewards = computeRewards(
        this.rules.revenue,
        new Map(finals.map((r) => [r.relay, r.bytesToTarget + r.bytesFromTarget])),
        this.init.feePpm,
      );
      const unsigned = {
        network: this.init.network,
        gateway: this.gateway,
        epoch,
        startedAt: window.startedAt,
        endedAt: window.endedAt,
        chainHead: this.rules.head,
        receipts: finals.length,
        merkleRoot: toHex(merkleRoot(leaves)),
        ...rewards,
      };
      const header: EpochHeader = { ...unsigned, gatewaySig: toHex(this.signer.sign(epochMessage(unsigned))) };
      await this.appendNow('epoch', header);
      for (const key of this.proposedSeq.keys()) if (key.startsWith(`${epoch}/`)) this.proposedSeq.delete(key);
      const settlements = finals.map((receipt, leafIndex) => ({
        header,
        receipt,
        leafIndex,
        proof: inclusionProof(leaves, leafIndex).map(toHex),
      }));
      return { header, settlements };
    });
  }

  private append<K extends EntryKind>(kind: K, body: EntryBodies[K]): Promise<LedgerEntry> {
    return this.serialise(() => this.appendNow(kind, body));
  }

  private async appendNow<K extends EntryKind>(kind: K, body: EntryBodies[K]): Promise<LedgerEntry> {
    const unhashed = { gateway: this.gateway, index: this.rules.nextIndex, kind, body, prev: this.rules.head };
    const entry: LedgerEntry = { ...unhashed, hash: entryHash(unhashed) };
    this.rules.validate(entry);
    await this.store.append(entry);
    this.rules.apply(entry);
    return entry;
  }

  private serialise<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => {});
    return run;
  }
}

/** A pseudonym for a customer in public exports: stable per gateway, reveals no account name. */
export function customerPseudonym(gateway: string, customer: string): string {
  return `c_${createHash('sha256').update(`${gateway}\0${customer.toLowerCase()}`).digest('hex').slice(0, 16)}`;
}
