import { canonicalJson, fromHex, toHex } from './canonical.ts';
import {
  type DisputeBody,
  disputeMessage,
  type EntryBodies,
  type EntryKind,
  type EpochHeader,
  entryHash,
  epochMessage,
  GENESIS_HASH,
  type LedgerEntry,
  type RevenueBody,
} from './entries.ts';
import { leafHash, merkleRoot } from './merkle.ts';
import { peerPublicKey } from './peer-key.ts';
import { checkReceiptFields, receiptMessage, type SignedReceipt } from './receipt.ts';
import { computeRewards, lineMicros } from './rewards.ts';
import type { VerifyFn } from './signatures.ts';

/** Why an entry was refused; stable strings that tests, logs and `meadow ledger verify` print. */
export type RejectReason =
  | 'malformed'
  | 'wrong-network'
  | 'wrong-gateway'
  | 'wrong-relay'
  | 'bad-index'
  | 'broken-chain'
  | 'bad-hash'
  | 'bad-gateway-signature'
  | 'bad-relay-signature'
  | 'bad-epoch-signature'
  | 'closed-epoch'
  | 'future-epoch'
  | 'stale-seq'
  | 'smaller-total'
  | 'bad-revenue'
  | 'bad-chain-head'
  | 'bad-merkle-root'
  | 'bad-rewards';

export class LedgerRejection extends Error {
  readonly code = 'MEADOW_ERR_LEDGER_REJECTED';
  readonly reason: RejectReason;
  constructor(reason: RejectReason, message: string) {
    super(`${reason}: ${message}`);
    this.name = 'LedgerRejection';
    this.reason = reason;
  }
}

/** The leaf of a settled receipt in its epoch's Merkle tree: the signed message and both signatures. */
export function receiptLeaf(r: SignedReceipt): Uint8Array {
  return leafHash(Buffer.concat([receiptMessage(r), fromHex(r.gatewaySig, 64), fromHex(r.relaySig, 64)]));
}

/** The final receipt of each channel, ordered by relay peer id: the epoch's Merkle leaves. */
export function finalReceiptsInOrder(finals: Iterable<SignedReceipt>): SignedReceipt[] {
  return [...finals].sort((a, b) => (a.relay < b.relay ? -1 : a.relay > b.relay ? 1 : 0));
}

/**
 * The rules of one gateway's chain, applied entry by entry. The gateway runs them (with node:crypto)
 * before it appends; `meadow ledger verify` runs the same rules (with @noble/ed25519) over an export.
 * Epochs are numbered 1, 2, …; receipts and revenue always belong to the one open epoch.
 */
export class ChainRules {
  readonly gateway: string;
  readonly network: string;
  private readonly verify: VerifyFn;
  nextIndex = 0;
  head = GENESIS_HASH;
  closedEpoch = 0;
  /** Latest receipt of each relay's channel in the open epoch. */
  readonly channels = new Map<string, SignedReceipt>();
  readonly revenue: RevenueBody[] = [];
  private readonly gatewayKey: Uint8Array;

  constructor(init: { gateway: string; network: string; verify: VerifyFn }) {
    this.gateway = init.gateway;
    this.network = init.network;
    this.verify = init.verify;
    this.gatewayKey = peerPublicKey(init.gateway);
  }

  get openEpoch(): number {
    return this.closedEpoch + 1;
  }

  /** Resumes after a trusted epoch header (the gateway's own store), without replaying history. */
  resumeAfter(entry: LedgerEntry<'epoch'>): void {
    this.nextIndex = entry.index + 1;
    this.head = entry.hash;
    this.closedEpoch = entry.body.epoch;
    this.channels.clear();
    this.revenue.length = 0;
  }

  /** Throws LedgerRejection if the entry may not follow the chain as it stands; otherwise applies it. */
  accept(entry: LedgerEntry): void {
    this.validate(entry);
    this.apply(entry);
  }

  /** Throws LedgerRejection if the entry may not follow the chain as it stands; changes nothing. */
  validate(entry: LedgerEntry): void {
    if (entry.gateway !== this.gateway)
      throw reject('wrong-gateway', `entry of gateway ${entry.gateway} in ${this.gateway}'s chain`);
    if (entry.index !== this.nextIndex)
      throw reject('bad-index', `expected index ${this.nextIndex}, got ${entry.index}`);
    if (entry.prev !== this.head)
      throw reject('broken-chain', `prev ${short(entry.prev)} is not the previous entry's hash ${short(this.head)}`);
    if (entryHash(entry) !== entry.hash)
      throw reject('bad-hash', `hash ${short(entry.hash)} does not match the entry's contents`);
    this.check(entry.kind, entry.body as EntryBodies[typeof entry.kind]);
  }

  /** The checks specific to each kind of entry, without the chain links (also used before signing). */
  check<K extends EntryKind>(kind: K, body: EntryBodies[K]): void {
    switch (kind) {
      case 'receipt':
        this.checkReceipt(body as SignedReceipt);
        return;
      case 'dispute':
        this.checkDispute(body as DisputeBody);
        return;
      case 'revenue':
        this.checkRevenue(body as RevenueBody);
        return;
      case 'epoch':
        this.checkEpoch(body as EpochHeader);
        return;
    }
  }

  private checkEpochNumber(epoch: number): void {
    if (epoch <= this.closedEpoch)
      throw reject('closed-epoch', `epoch ${epoch} is already closed (open epoch is ${this.openEpoch})`);
    if (epoch > this.openEpoch)
      throw reject('future-epoch', `epoch ${epoch} is not open yet (open epoch is ${this.openEpoch})`);
  }

  private checkReceipt(r: SignedReceipt): void {
    try {
      checkReceiptFields(r);
    } catch (err) {
      throw reject('malformed', (err as Error).message);
    }
    if (r.network !== this.network)
      throw reject('wrong-network', `receipt for network "${r.network}", ledger is "${this.network}"`);
    if (r.gateway !== this.gateway) throw reject('wrong-gateway', `receipt names gateway ${r.gateway}`);
    this.checkEpochNumber(r.epoch);
    const message = receiptMessage(r);
    if (!this.verify(this.gatewayKey, message, fromHex(r.gatewaySig, 64)))
      throw reject('bad-gateway-signature', `gateway signature on seq ${r.seq} of relay ${r.relay} does not verify`);
    if (!this.verify(peerPublicKey(r.relay), message, fromHex(r.relaySig, 64)))
      throw reject('bad-relay-signature', `relay ${r.relay}'s signature on seq ${r.seq} does not verify`);
    const previous = this.channels.get(r.relay);
    if (previous != null) {
      if (r.seq <= previous.seq)
        throw reject(
          'stale-seq',
          `seq ${r.seq} of relay ${r.relay} is not above ${previous.seq} (replayed or out of order)`,
        );
      for (const key of ['bytesToTarget', 'bytesFromTarget', 'tunnels'] as const) {
        if (r[key] < previous[key])
          throw reject('smaller-total', `${key} ${r[key]} of relay ${r.relay} is below the previous ${previous[key]}`);
      }
    }
  }

  private checkDispute(d: DisputeBody): void {
    if (d.network !== this.network) throw reject('wrong-network', `dispute for network "${d.network}"`);
    if (d.gateway !== this.gateway) throw reject('wrong-gateway', `dispute names gateway ${d.gateway}`);
    this.checkEpochNumber(d.epoch);
    let relayKey: Uint8Array;
    try {
      relayKey = peerPublicKey(d.relay);
    } catch (err) {
      throw reject('malformed', (err as Error).message);
    }
    if (!this.verify(relayKey, disputeMessage(d), fromHex(d.relaySig, 64)))
      throw reject('bad-relay-signature', `relay ${d.relay}'s signature on its dispute does not verify`);
  }

  private checkRevenue(line: RevenueBody): void {
    this.checkEpochNumber(line.epoch);
    const micros = lineMicros(line);
    if (micros !== line.micros)
      throw reject(
        'bad-revenue',
        `${line.bytes} bytes at ${line.priceMicrosPerGb} per GB is ${micros} micros, not ${line.micros}`,
      );
  }

  private checkEpoch(h: EpochHeader): void {
    if (h.network !== this.network) throw reject('wrong-network', `epoch header for network "${h.network}"`);
    if (h.gateway !== this.gateway) throw reject('wrong-gateway', `epoch header names gateway ${h.gateway}`);
    this.checkEpochNumber(h.epoch);
    if (!this.verify(this.gatewayKey, epochMessage(h), fromHex(h.gatewaySig, 64)))
      throw reject('bad-epoch-signature', `the gateway's signature on epoch ${h.epoch} does not verify`);
    if (h.chainHead !== this.head)
      throw reject(
        'bad-chain-head',
        `epoch ${h.epoch} commits to ${short(h.chainHead)}, the chain is at ${short(this.head)}`,
      );
    const finals = finalReceiptsInOrder(this.channels.values());
    const root = toHex(merkleRoot(finals.map(receiptLeaf)));
    if (h.receipts !== finals.length || h.merkleRoot !== root)
      throw reject(
        'bad-merkle-root',
        `epoch ${h.epoch} claims ${h.receipts} receipts with root ${short(h.merkleRoot)}; the chain gives ${finals.length} with ${short(root)}`,
      );
    const expected = computeRewards(
      this.revenue,
      new Map(finals.map((r) => [r.relay, r.bytesToTarget + r.bytesFromTarget])),
      h.feePpm,
    );
    const claimed = {
      revenueMicros: h.revenueMicros,
      feePpm: h.feePpm,
      providerPoolMicros: h.providerPoolMicros,
      rewards: h.rewards,
    };
    if (canonicalJson(claimed) !== canonicalJson(expected))
      throw reject(
        'bad-rewards',
        `epoch ${h.epoch}'s rewards do not follow from its receipts and revenue (${describeRewardDiff(claimed, expected)})`,
      );
  }

  apply(entry: LedgerEntry): void {
    this.nextIndex = entry.index + 1;
    this.head = entry.hash;
    if (entry.kind === 'receipt') {
      const r = entry.body as SignedReceipt;
      this.channels.set(r.relay, r);
    } else if (entry.kind === 'revenue') {
      this.revenue.push(entry.body as RevenueBody);
    } else if (entry.kind === 'epoch') {
      this.closedEpoch = (entry.body as EpochHeader).epoch;
      this.channels.clear();
      this.revenue.length = 0;
    }
  }
}

function describeRewardDiff(
  claimed: Pick<EpochHeader, 'revenueMicros' | 'providerPoolMicros' | 'rewards'>,
  expected: ReturnType<typeof computeRewards>,
): string {
  if (claimed.revenueMicros !== expected.revenueMicros)
    return `revenue ${claimed.revenueMicros} ≠ ${expected.revenueMicros}`;
  if (claimed.providerPoolMicros !== expected.providerPoolMicros)
    return `pool ${claimed.providerPoolMicros} ≠ ${expected.providerPoolMicros}`;
  for (const want of expected.rewards) {
    const got = claimed.rewards.find((r) => r.relay === want.relay);
    if (got == null) return `relay ${want.relay} is missing`;
    if (got.bytes !== want.bytes || got.micros !== want.micros)
      return `relay ${want.relay}: ${got.micros} micros for ${got.bytes} bytes, expected ${want.micros} for ${want.bytes}`;
  }
  return 'the reward lines differ in order or number';
}

function reject(reason: RejectReason, message: string): LedgerRejection {
  return new LedgerRejection(reason, message);
}

function short(hash: string): string {
  return `${hash.slice(0, 12)}…`;
}
