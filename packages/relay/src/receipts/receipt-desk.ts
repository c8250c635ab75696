import {
  type Counts,
  checkSettlement,
  type DisputeBody,
  disputeMessage,
  fromHex,
  nodeVerify,
  type Proposal,
  peerPublicKey,
  type ReceiptRefusalReason,
  type ReceiptResponse,
  receiptMessage,
  receiptResultLabel,
  type Settlement,
  type Signer,
  toHex,
} from '@meadow/ledger';
import type { LiveCounter } from '@meadow/protocol';
import type { Logger } from 'pino';
import { type BytesOnTheirWay, whereBytesAre } from './earnings.ts';
import type { ChannelState, ReceiptBook } from './receipt-book.ts';

export interface ReceiptDeskInit {
  network: string;
  /** A proposal may differ from the relay's own count by this many bytes per direction… */
  toleranceBytes: number;
  /** …or by this fraction of the relay's count, whichever is larger. */
  toleranceRatio: number;
}

type Direction = 'bytesToTarget' | 'bytesFromTarget' | 'tunnels';
const DIRECTIONS: Direction[] = ['bytesToTarget', 'bytesFromTarget', 'tunnels'];

/**
 * The relay's half of the receipt protocol. A gateway proposes a cumulative count for the
 * channel (gateway, relay, epoch); the relay compares it with its own meter and countersigns,
 * or answers with a signed dispute carrying both figures. Nothing is averaged away.
 */
export class ReceiptDesk {
  private readonly init: ReceiptDeskInit;
  private readonly book: ReceiptBook;
  private readonly signer: Signer;
  private readonly counter: LiveCounter;
  private readonly log: Logger;
  private readonly onResult: (result: string) => void;
  /** When each gateway's latest proposal was answered (this process). */
  private readonly answeredAt = new Map<string, number>();

  constructor(
    init: ReceiptDeskInit,
    deps: {
      book: ReceiptBook;
      signer: Signer;
      counter: LiveCounter;
      logger: Logger;
      onResult?: (result: string) => void;
    },
  ) {
    this.init = init;
    this.book = deps.book;
    this.signer = deps.signer;
    this.counter = deps.counter;
    this.log = deps.logger;
    this.onResult = deps.onResult ?? (() => {});
  }

  /** Bytes this relay carried for the gateway that no receipt it signed covers yet. */
  unsignedBytes(gateway: string): number {
    return this.whereBytesAre(gateway).awaitingReceiptBytes;
  }

  /** Every byte carried for the gateway, by where it stands on its way to a reward. */
  whereBytesAre(gateway: string): BytesOnTheirWay {
    return whereBytesAre(this.book, gateway, this.counter.get(gateway));
  }

  /** `from` is the authenticated peer on the connection, never what the proposal says. */
  propose(from: string, p: Proposal): ReceiptResponse {
    const response = this.decide(from, p);
    this.answeredAt.set(from, Date.now());
    this.onResult(receiptResultLabel(response));
    return response;
  }

  /** When the gateway's latest proposal was answered, if one was since this process started. */
  lastProposalAt(gateway: string): number | undefined {
    return this.answeredAt.get(gateway);
  }

  settle(from: string, settlement: Settlement): ReceiptResponse {
    const response = this.checkSettlement(from, settlement);
    this.onResult(receiptResultLabel(response));
    return response;
  }

  private checkSettlement(from: string, settlement: Settlement): ReceiptResponse {
    if (settlement.header.gateway !== from)
      return refused('wrong-gateway', `settlement of gateway ${settlement.header.gateway} arrived from ${from}`);
    const check = checkSettlement(settlement, this.signer.peerId, nodeVerify);
    if (!check.ok) {
      this.log.warn(
        { gateway: from, epoch: settlement.header.epoch, problem: check.problem },
        'settlement does not check out',
      );
      return refused('bad-settlement', check.problem);
    }
    this.book.saveSettlement(settlement, check.bytes, check.micros);
    this.log.info(
      { gateway: from, epoch: settlement.header.epoch, bytes: check.bytes, micros: check.micros },
      'epoch settled: inclusion proof checks against the signed root',
    );
    return { type: 'settled' };
  }

  private decide(from: string, p: Proposal): ReceiptResponse {
    if (p.network !== this.init.network)
      return refused('wrong-network', `this relay is on network "${this.init.network}"`);
    if (p.relay !== this.signer.peerId) return refused('wrong-relay', `proposal names relay ${p.relay}`);
    if (p.gateway !== from)
      return refused('wrong-gateway', `proposal names gateway ${p.gateway} but came from ${from}`);
    let message: Uint8Array;
    try {
      message = receiptMessage(p);
    } catch (err) {
      return refused('malformed', (err as Error).message);
    }
    if (!nodeVerify(peerPublicKey(from), message, fromHex(p.gatewaySig, 64)))
      return refused('bad-gateway-signature', 'the gateway signature does not verify');
    const state = this.book.channel(from);
    if (p.epoch < state.epoch)
      return refused('closed-epoch', `epoch ${p.epoch} is behind this channel's epoch ${state.epoch}`);
    if (p.epoch > state.epoch) rollEpoch(state, p.epoch);
    if (state.last != null) {
      if (p.seq <= state.last.seq) return refused('stale-seq', `seq ${p.seq} is not above ${state.last.seq}`);
      const smaller = DIRECTIONS.find((d) => p[d] < (state.last as Proposal)[d]);
      if (smaller != null)
        return refused('smaller-total', `${smaller} ${p[smaller]} is below the signed ${state.last[smaller]}`);
    }
    const meter = this.counter.get(from);
    const own = subtract(meter, state.base);
    const over = DIRECTIONS.filter((d) => p[d] - own[d] > this.tolerance(d, own[d]));
    if (over.length > 0) {
      // Never attest bytes this relay did not carry: no signature, a signed dispute instead.
      const dispute = this.disputeFor(p, own, over);
      this.book.saveDispute(state, dispute, meter);
      this.log.warn({ gateway: p.gateway, epoch: p.epoch, seq: p.seq, reason: dispute.reason }, 'receipt disputed');
      return { type: 'disputed', dispute };
    }
    // Receipts are cumulative: signing a figure below our own loses nothing while a later receipt
    // can still catch up. A shortfall beyond the tolerance that grew since the last one noted
    // (the gateway lost count, say) is signed under protest: the dispute goes on record too.
    const short = DIRECTIONS.filter((d) => own[d] - p[d] - state.shortfall[d] > this.tolerance(d, own[d]));
    for (const d of DIRECTIONS)
      state.shortfall[d] = short.length > 0 ? own[d] - p[d] : Math.min(state.shortfall[d], Math.max(0, own[d] - p[d]));
    const receipt = { ...p, relaySig: toHex(this.signer.sign(message)) };
    state.last = receipt;
    this.book.saveSigned(state, receipt, meter);
    if (short.length === 0) return { type: 'signed', relaySig: receipt.relaySig };
    const dispute = this.disputeFor(p, own, short);
    this.book.saveDispute(state, dispute, meter);
    this.log.warn(
      { gateway: p.gateway, epoch: p.epoch, seq: p.seq, reason: dispute.reason },
      'receipt signed under protest',
    );
    return { type: 'signed', relaySig: receipt.relaySig, dispute };
  }

  private disputeFor(p: Proposal, own: Counts, mismatches: Direction[]): DisputeBody {
    const fields: Omit<DisputeBody, 'relaySig'> = {
      network: p.network,
      epoch: p.epoch,
      gateway: p.gateway,
      relay: p.relay,
      seq: p.seq,
      proposed: { bytesToTarget: p.bytesToTarget, bytesFromTarget: p.bytesFromTarget, tunnels: p.tunnels },
      relayCount: own,
      reason: mismatches
        .map((d) => `${d} ${p[d]} vs ${own[d]}`)
        .join('; ')
        .slice(0, 200),
    };
    return { ...fields, relaySig: toHex(this.signer.sign(disputeMessage(fields))) };
  }

  private tolerance(direction: Direction, own: number): number {
    if (direction === 'tunnels') return Math.max(8, Math.ceil(own * this.init.toleranceRatio));
    return Math.max(this.init.toleranceBytes, Math.ceil(own * this.init.toleranceRatio));
  }
}

/** A new epoch: what the previous one settled (its last signed receipt) moves into the base. */
function rollEpoch(state: ChannelState, epoch: number): void {
  if (state.last != null) for (const d of DIRECTIONS) state.base[d] += state.last[d];
  state.epoch = epoch;
  state.last = undefined;
  state.shortfall = { bytesToTarget: 0, bytesFromTarget: 0, tunnels: 0 };
}

function subtract(a: Counts, b: Counts): Counts {
  return {
    bytesToTarget: a.bytesToTarget - b.bytesToTarget,
    bytesFromTarget: a.bytesFromTarget - b.bytesFromTarget,
    tunnels: a.tunnels - b.tunnels,
  };
}

function refused(reason: ReceiptRefusalReason, message: string): ReceiptResponse {
  return { type: 'refused', reason, message };
}
