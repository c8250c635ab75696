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
import { MerkleTree } from './merkle.ts';
import { type ReceiptFields, receiptMessage, type SignedReceipt } from './receipt.ts';
import { computeRewards, lineMicros, type RevenueLine } from './rewards.ts';
import { nodeVerify, type Signer, type VerifyFn } from './signatures.ts';
import type { LedgerStore } from './store.ts';

export interface LedgerInit {
  network: string;
  /** Protocol fee in parts per million of revenue (50_000 = 5%). */
  feePpm: number;
}

export interface LedgerDeps {
  store: LedgerStore;
  signer: Signer;
  /** Signature check for incoming entries; node:crypto by default. */
  verify?: VerifyFn;
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
  private rules: ChainRules;
  private readonly verify: VerifyFn;
  /** Appends waiting for the next group commit. */
  private pending: Array<{
    kind: EntryKind;
    body: EntryBodies[EntryKind];
    resolve(e: LedgerEntry): void;
    reject(err: unknown): void;
  }> = [];
  private queue: Promise<unknown> = Promise.resolve();
  private readonly proposedSeq = new Map<string, number>();

  private constructor(init: LedgerInit, deps: LedgerDeps) {
    this.init = init;
    this.store = deps.store;
    this.signer = deps.signer;
    this.verify = deps.verify ?? nodeVerify;
    this.rules = this.freshRules();
  }

  /** Opens the gateway's chain, re-checking every entry since its last epoch header. */
  static async open(init: LedgerInit, deps: LedgerDeps): Promise<Ledger> {
    const ledger = new Ledger(init, deps);
    await ledger.load();
    return ledger;
  }

  /** (Re)builds the chain state from the store: the last epoch header, then every entry after it. */
  private async load(): Promise<void> {
    const rules = this.freshRules();
    const lastEpoch = (await this.store.lastOfKind(this.gateway, 'epoch')) as LedgerEntry<'epoch'> | undefined;
    if (lastEpoch != null) rules.resumeAfter(lastEpoch);
    for await (const entry of this.store.entries({ gateway: this.gateway, fromIndex: rules.nextIndex }))
      rules.accept(entry);
    this.rules = rules;
  }

  private freshRules(): ChainRules {
    return new ChainRules({ gateway: this.signer.peerId, network: this.init.network, verify: this.verify });
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

  /** The last `limit` closed epochs' signed headers, newest first. */
  async recentEpochs(limit: number): Promise<EpochHeader[]> {
    const entries = await this.store.recentOfKind(this.gateway, 'epoch', limit);
    return entries.map((e) => (e as LedgerEntry<'epoch'>).body);
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
      const entries: LedgerEntry[] = [];
      for (const line of window.revenue) {
        if (line.bytes === 0) continue;
        entries.push(this.stage('revenue', { epoch, ...line, micros: lineMicros(line) }));
      }
      const finals = finalReceiptsInOrder(this.rules.channels.values());
      const tree = new MerkleTree(finals.map(receiptLeaf));
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
        merkleRoot: toHex(tree.root()),
        ...rewards,
      };
      const header: EpochHeader = { ...unsigned, gatewaySig: toHex(this.signer.sign(epochMessage(unsigned))) };
      entries.push(this.stage('epoch', header));
      // Revenue lines and the header land in one transaction: an epoch is closed entirely or not at all.
      await this.write(entries);
      for (const key of this.proposedSeq.keys()) if (key.startsWith(`${epoch}/`)) this.proposedSeq.delete(key);
      const settlements = finals.map((receipt, leafIndex) => ({
        header,
        receipt,
        leafIndex,
        proof: tree.proof(leafIndex).map(toHex),
      }));
      return { header, settlements };
    });
  }

  /**
   * Group commit: appends that arrive while a write is in flight are checked one by one and then
   * written together in one transaction (one fsync), so throughput follows the disk's sync rate
   * times the batch, not one entry per sync. Each caller learns only after its entry is durable.
   */
  private append<K extends EntryKind>(kind: K, body: EntryBodies[K]): Promise<LedgerEntry> {
    return new Promise((resolve, reject) => {
      this.pending.push({ kind, body, resolve, reject });
      if (this.pending.length === 1) void this.serialise(() => this.flush());
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending.splice(0);
    const staged: Array<{ entry: LedgerEntry; item: (typeof batch)[number] }> = [];
    for (const item of batch) {
      try {
        staged.push({ entry: this.stage(item.kind, item.body), item });
      } catch (err) {
        item.reject(err);
      }
    }
    if (staged.length === 0) return;
    try {
      await this.write(staged.map((s) => s.entry));
    } catch (err) {
      for (const s of staged) s.item.reject(err);
      return;
    }
    for (const s of staged) s.item.resolve(s.entry);
  }

  /** Checks an entry against the chain as staged so far and applies it in memory (not yet written). */
  private stage<K extends EntryKind>(kind: K, body: EntryBodies[K]): LedgerEntry {
    const unhashed = { gateway: this.gateway, index: this.rules.nextIndex, kind, body, prev: this.rules.head };
    const entry: LedgerEntry = { ...unhashed, hash: entryHash(unhashed) };
    this.rules.validate(entry);
    this.rules.apply(entry);
    return entry;
  }

  /** Writes staged entries; if the store refuses, the in-memory chain is rebuilt from the store. */
  private async write(entries: LedgerEntry[]): Promise<void> {
    try {
      await this.store.appendMany(entries);
    } catch (err) {
      await this.load();
      throw err;
    }
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
