import type { Connection } from '@libp2p/interface';
import { type MeadowNode, openConnectionTo } from '@meadow/discovery';
import {
  type Counts,
  customerPseudonym,
  type DisputeBody,
  type Ledger,
  RECEIPT_PROTOCOL,
  type ReceiptRequest,
  type ReceiptResponse,
  readMessage,
  receiptResultLabel,
  responseSchema,
  type Settlement,
  writeMessage,
} from '@meadow/ledger';
import type { Logger } from 'pino';
import type { Counter, Gauge, Histogram } from 'prom-client';
import type { ChannelBytes } from './channel-bytes.ts';
import type { MeterSnapshots } from './meter-snapshots.ts';

export interface ReceiptClerkInit {
  epochMs: number;
  receiptIntervalMs: number;
  receiptEveryBytes: number;
  requestTimeoutMs: number;
  /**
   * A relay unreachable this long has its bytes not yet co-signed written off at the next close:
   * never billed, never paid, and no longer proposed, saved or counted every round.
   */
  writeOffAfterMs: number;
}

export interface LedgerMetrics {
  receipts: Counter<'result'>;
  epochs: Counter;
  openEpoch: Gauge;
  roundSeconds: Histogram;
  writtenOffBytes: Counter;
}

const ZERO: Counts = { bytesToTarget: 0, bytesFromTarget: 0, tunnels: 0 };
// Receipts that come back together are written in one group commit (Ledger.append).
const PARALLEL_REQUESTS = 32;
/** How long a leaving relay's tunnels may take to end before its last round runs anyway. */
const LAST_ROUND_WAIT_MS = 15_000;

/**
 * The gateway's side of the receipt protocol. It proposes to each relay the cumulative count of
 * the relay's channel in the open epoch (every interval, or sooner once enough bytes moved),
 * records what comes back countersigned or disputed, and closes epochs: a final round, revenue
 * lines from customer bytes, the signed header, then each relay's settlement with its proof.
 *
 * An epoch bills customers for the bytes its relays co-signed, no more and no less: with each
 * proposal the clerk notes the relay's bytes by customer since its last settled receipt
 * (`ChannelBytes`), read at the same moment as the count, and the revenue of an epoch is, per
 * customer, the sum of each relay's split at its last receipt signed in the epoch. So every relay
 * earns the same share of an epoch's revenue per byte, a download under way at the close is billed
 * and paid in the same epoch, and bytes a relay has not signed yet are billed in the epoch that
 * pays them.
 *
 * The count proposed for a relay is what `ChannelBytes` holds for it (its bytes since its last
 * settled receipt, live) plus an offset that only a restart sets: the last co-signed receipt of the
 * open epoch, or the saved count where that is ahead, so a restart continues the channel. Bytes not
 * yet co-signed at a close carry over into the next epoch. All of the clerk's work (rounds, the
 * saved meters) is over the relays with bytes not yet settled, never every relay the gateway has
 * seen, and a relay that stays unreachable is written off (`writeOffAfterMs`).
 */
export class ReceiptClerk {
  private readonly init: ReceiptClerkInit;
  private readonly ledger: Ledger;
  private readonly node: MeadowNode;
  private readonly channels: ChannelBytes;
  private readonly priceOf: (customer: string) => number;
  private readonly log: Logger;
  private readonly metrics: LedgerMetrics;
  /** Per relay, what its proposal carries beyond `ChannelBytes` (set by a restart; zero: no entry). */
  private readonly offsets = new Map<string, Counts>();
  /** Relays owed a receipt that a round could not reach, since when. */
  private readonly unreachableSince = new Map<string, number>();
  /** Per relay, its bytes by customer at its last receipt signed in the open epoch. */
  private splitSigned = new Map<string, Map<string, Counts>>();
  /** Customer bytes of the open epoch counted before a restart (from the saved meters). */
  private customerCarry = new Map<string, Counts>();
  private readonly snapshots: MeterSnapshots | undefined;
  private readonly onSnapshot: ((error?: Error) => void) | undefined;
  private epochStartedAt = Date.now();
  private queue: Promise<unknown> = Promise.resolve();
  private timers: NodeJS.Timeout[] = [];
  private closeTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private byteRoundPending = false;
  private intervalRoundPending = false;
  private readonly settling = new Set<Promise<void>>();

  constructor(
    init: ReceiptClerkInit,
    deps: {
      ledger: Ledger;
      node: MeadowNode;
      /** Bytes per relay and customer: proposals count them, and revenue bills what relays co-signed. */
      channels: ChannelBytes;
      priceOf: (customer: string) => number;
      logger: Logger;
      metrics: LedgerMetrics;
      /** Where the open epoch's counters are saved every second (none: a crash loses them). */
      snapshots?: MeterSnapshots;
      /** Told the outcome of each save that wrote something (the metering fail-safe listens). */
      onSnapshot?: (error?: Error) => void;
    },
  ) {
    this.init = init;
    this.ledger = deps.ledger;
    this.node = deps.node;
    this.channels = deps.channels;
    this.priceOf = deps.priceOf;
    this.log = deps.logger;
    this.metrics = deps.metrics;
    this.snapshots = deps.snapshots;
    this.onSnapshot = deps.onSnapshot;
  }

  start(): void {
    for (const receipt of this.ledger.openChannels()) this.offsets.set(receipt.relay, countsOf(receipt));
    // After a crash, continue from the saved counters where they are ahead of the co-signed ones.
    const saved = this.snapshots?.load(this.ledger.openEpoch);
    for (const [relay, counts] of saved?.relays ?? []) {
      const signed = this.offsets.get(relay) ?? ZERO;
      if (total(counts) > total(signed)) this.offsets.set(relay, counts);
    }
    this.customerCarry = new Map(saved?.customers ?? []);
    if (saved != null && saved.relays.size + saved.customers.size > 0)
      this.log.info(
        { epoch: saved.epoch, relays: saved.relays.size, customers: saved.customers.size },
        'resumed the open epoch from saved counters',
      );
    if (this.snapshots != null) this.every(1_000, () => this.enqueue(async () => this.saveMeters()));
    this.epochStartedAt = Date.now();
    this.metrics.openEpoch.set(this.ledger.openEpoch);
    this.every(this.init.receiptIntervalMs, () => {
      if (this.intervalRoundPending) return;
      this.intervalRoundPending = true;
      return this.enqueue(() => {
        this.intervalRoundPending = false;
        return this.round();
      });
    });
    this.every(250, () => {
      // At most one byte-triggered round waiting: a slow or frozen relay must not pile rounds up.
      if (this.byteRoundPending) return;
      // A relay that is not linked is left to the interval rounds, which count it unreachable.
      const due = [...this.relaysOwed()].filter(
        (relay) => this.unreceipted(relay) >= this.init.receiptEveryBytes && this.connectionTo(relay) != null,
      );
      if (due.length === 0) return;
      this.byteRoundPending = true;
      void this.enqueue(() => {
        this.byteRoundPending = false;
        return this.round(due);
      });
    });
    this.scheduleClose();
  }

  /** A last round so that what was carried is co-signed before the gateway goes away. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    if (this.closeTimer != null) clearTimeout(this.closeTimer);
    let giveUp: NodeJS.Timeout | undefined;
    await Promise.race([
      this.enqueue(() => this.round()),
      new Promise((r) => {
        giveUp = setTimeout(r, 5_000);
      }),
    ]);
    clearTimeout(giveUp);
    await Promise.allSettled(this.settling);
  }

  /** Saves what the open epoch has counted (relays' next proposals, customers' bytes). */
  private saveMeters(): void {
    const snapshots = this.snapshots as MeterSnapshots;
    // A relay whose count is co-signed needs no row: a restart resumes it from the ledger.
    const relays = new Map<string, Counts>();
    for (const relay of this.relaysOwed()) {
      const proposal = this.proposalFor(relay);
      if (!sameCounts(proposal, this.ledger.latest(relay) ?? ZERO)) relays.set(relay, proposal);
    }
    // Everything customers moved in the open epoch, signed or not: after a crash the relays'
    // proposals resume from their saved counts too, so these bytes are co-signed in this epoch.
    const customers = this.customerBytes(this.channels.relays().map((relay) => this.channels.split(relay)));
    try {
      if (snapshots.save({ epoch: this.ledger.openEpoch, relays, customers })) this.onSnapshot?.();
    } catch (err) {
      this.onSnapshot?.(err as Error);
    }
  }

  /** Per customer, the bytes in relays' splits, plus the bytes carried over a restart. */
  private customerBytes(splits: Iterable<ReadonlyMap<string, Counts>>): Map<string, Counts> {
    const bytes = new Map(this.customerCarry);
    for (const split of splits)
      for (const [customer, counts] of split) bytes.set(customer, add(bytes.get(customer) ?? ZERO, counts));
    return bytes;
  }

  /** What the relay's channel would be proposed at now. */
  proposalFor(relay: string): Counts {
    return add(this.channels.total(relay), this.offsets.get(relay) ?? ZERO);
  }

  /** The relays whose proposal may differ from what they co-signed: bytes not yet settled, or an offset. */
  private relaysOwed(): Set<string> {
    return new Set([...this.channels.relays(), ...this.offsets.keys()]);
  }

  /** Runs a receipt round now (tests, and the epoch close). */
  roundNow(): Promise<void> {
    return this.enqueue(() => this.round());
  }

  /**
   * For a relay that leaves: a round for it alone once `idle` (its tunnels here have ended, up to
   * LAST_ROUND_WAIT_MS), so it co-signs everything before it goes instead of when it returns.
   */
  async lastRound(relay: string, idle: () => boolean): Promise<void> {
    const until = Date.now() + LAST_ROUND_WAIT_MS;
    while (!idle() && Date.now() < until && !this.stopped) await new Promise((r) => setTimeout(r, 50));
    if (this.stopped) return;
    await this.enqueue(() => this.round([relay])).catch((err: Error) =>
      this.log.warn({ relay, err: err.message }, "a leaving relay's last receipt round failed"),
    );
  }

  closeEpochNow(): Promise<void> {
    return this.enqueue(() => this.closeEpoch());
  }

  private every(ms: number, task: () => unknown): void {
    const timer = setInterval(() => void Promise.resolve(task()).catch(() => {}), ms);
    timer.unref();
    this.timers.push(timer);
  }

  /** One timer for the next close; a failed close (the store refused) is retried a few seconds later, not at once. */
  private scheduleClose(retryMs?: number): void {
    const due = retryMs ?? Math.max(0, this.epochStartedAt + this.init.epochMs - Date.now());
    this.closeTimer = setTimeout(() => {
      if (this.stopped) return;
      this.closeEpochNow().then(
        () => this.scheduleClose(),
        (err: Error) => {
          this.log.error({ err: err.message }, 'closing the epoch failed; will retry');
          this.scheduleClose(Math.min(this.init.epochMs, 5_000));
        },
      );
    }, due);
    this.closeTimer.unref();
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => {});
    return run;
  }

  private unreceipted(relay: string): number {
    const now = this.proposalFor(relay);
    const signed = this.ledger.latest(relay) ?? ZERO;
    return now.bytesToTarget + now.bytesFromTarget - signed.bytesToTarget - signed.bytesFromTarget;
  }

  private async round(only?: string[]): Promise<void> {
    const started = performance.now();
    const candidates = (only ?? [...this.relaysOwed()]).filter((relay) => {
      const now = this.proposalFor(relay);
      const signed = this.ledger.latest(relay) ?? ZERO;
      return !sameCounts(now, signed);
    });
    for (let i = 0; i < candidates.length; i += PARALLEL_REQUESTS) {
      await Promise.all(candidates.slice(i, i + PARALLEL_REQUESTS).map((relay) => this.proposeTo(relay)));
    }
    if (candidates.length > 0) this.metrics.roundSeconds.observe((performance.now() - started) / 1000);
  }

  private async proposeTo(relay: string): Promise<void> {
    const connection = this.connectionTo(relay);
    if (connection == null) {
      this.metrics.receipts.inc({ result: 'unreachable' });
      if (!this.unreachableSince.has(relay)) this.unreachableSince.set(relay, Date.now());
      return;
    }
    this.unreachableSince.delete(relay);
    // The split is read with the count: together they are what this receipt bills and pays.
    const split = this.channels.split(relay);
    const proposal = this.ledger.propose(relay, this.proposalFor(relay), Date.now());
    try {
      const response = await this.ask(connection, { type: 'propose', receipt: proposal });
      if (response.type === 'signed') {
        await this.ledger.recordReceipt({ ...proposal, relaySig: response.relaySig }, { relay });
        this.splitSigned.set(relay, split);
        if (response.dispute != null)
          await this.recordDispute(relay, proposal.seq, response.dispute, 'signed under protest');
      } else if (response.type === 'disputed') {
        await this.recordDispute(relay, proposal.seq, response.dispute, 'refused to sign');
      } else if (response.type === 'refused') {
        this.log.warn({ relay, reason: response.reason, message: response.message }, 'relay refused a receipt');
      }
      this.metrics.receipts.inc({ result: receiptResultLabel(response) });
    } catch (err) {
      this.metrics.receipts.inc({ result: 'failed' });
      this.log.info(
        { relay, err: (err as Error).message },
        'receipt round with relay failed; it catches up next round',
      );
    }
  }

  private async recordDispute(relay: string, seq: number, dispute: DisputeBody, how: string): Promise<void> {
    if (dispute.relay !== relay || dispute.seq !== seq) throw new Error('the dispute does not answer this proposal');
    await this.ledger.recordDispute(dispute);
    this.log.warn({ relay, epoch: dispute.epoch, seq, reason: dispute.reason }, `relay disputed a receipt (${how})`);
  }

  private async closeEpoch(): Promise<void> {
    await this.round();
    const endedAt = Date.now();
    const billed = this.customerBytes(this.splitSigned.values());
    const revenue = [...billed].map(([customer, counts]) => ({
      customer: customerPseudonym(this.ledger.gateway, customer),
      bytes: total(counts),
      priceMicrosPerGb: this.priceOf(customer),
    }));
    const { header, settlements } = await this.ledger.closeEpoch({ startedAt: this.epochStartedAt, endedAt, revenue });
    const settledSplits = this.splitSigned;
    this.splitSigned = new Map();
    this.customerCarry = new Map();
    for (const [relay, split] of settledSplits) this.channels.settle(relay, split);
    // What the settlement covered beyond the bytes taken off `ChannelBytes` comes off the offset:
    // the relay's proposal goes down by exactly its settled receipt.
    for (const s of settlements) {
      const relay = s.receipt.relay;
      const taken = sum(settledSplits.get(relay)?.values() ?? []);
      this.setOffset(relay, subtract(add(this.offsets.get(relay) ?? ZERO, taken), countsOf(s.receipt)));
    }
    this.writeOffGoneRelays();
    this.epochStartedAt = endedAt;
    this.metrics.epochs.inc();
    this.metrics.openEpoch.set(this.ledger.openEpoch);
    this.log.info(
      {
        epoch: header.epoch,
        receipts: header.receipts,
        revenueMicros: header.revenueMicros,
        poolMicros: header.providerPoolMicros,
      },
      'epoch closed',
    );
    for (const settlement of settlements) {
      const sending = this.settle(settlement).finally(() => this.settling.delete(sending));
      this.settling.add(sending);
    }
  }

  private setOffset(relay: string, offset: Counts): void {
    if (sameCounts(offset, ZERO)) this.offsets.delete(relay);
    else this.offsets.set(relay, offset);
  }

  /**
   * Bytes a relay carried but has not co-signed wait for it to come back, and it usually does (a
   * restart, a dropped line). One unreachable for `writeOffAfterMs` is taken for gone: its bytes
   * are written off, so the gateway does not hold, save and propose them for ever. Nothing is
   * billed for them (revenue bills co-signed bytes only), and if the relay does come back, its
   * count restarts from zero and its own meter shows the difference.
   */
  private writeOffGoneRelays(): void {
    const owed = this.relaysOwed();
    const cutoff = Date.now() - this.init.writeOffAfterMs;
    for (const [relay, since] of this.unreachableSince) {
      if (!owed.has(relay)) this.unreachableSince.delete(relay);
      if (since > cutoff || !owed.has(relay)) continue;
      const unsigned = this.proposalFor(relay);
      // A tunnel still open through it: it is not gone after all.
      if (!this.channels.forget(relay)) continue;
      this.offsets.delete(relay);
      this.unreachableSince.delete(relay);
      this.metrics.writtenOffBytes.inc(Math.max(0, total(unsigned)));
      this.log.warn(
        {
          relay,
          bytesToTarget: unsigned.bytesToTarget,
          bytesFromTarget: unsigned.bytesFromTarget,
          unreachableSeconds: Math.round((Date.now() - since) / 1000),
        },
        'relay unreachable too long: its bytes not co-signed are written off (never billed, never paid)',
      );
    }
  }

  private async settle(settlement: Settlement): Promise<void> {
    const relay = settlement.receipt.relay;
    const connection = this.connectionTo(relay);
    if (connection == null) return;
    try {
      const response = await this.ask(connection, { type: 'settle', settlement });
      if (response.type === 'refused')
        this.log.warn({ relay, reason: response.reason, message: response.message }, 'relay refused its settlement');
    } catch (err) {
      this.log.info({ relay, err: (err as Error).message }, 'could not deliver a settlement');
    }
  }

  private connectionTo(relay: string): Connection | undefined {
    return openConnectionTo(this.node, relay);
  }

  private async ask(connection: Connection, request: ReceiptRequest): Promise<ReceiptResponse> {
    const signal = AbortSignal.timeout(this.init.requestTimeoutMs);
    const stream = await connection.newStream(RECEIPT_PROTOCOL, { signal });
    try {
      await writeMessage(stream, request, signal);
      return await readMessage(stream, responseSchema, signal);
    } catch (err) {
      stream.abort(err as Error);
      throw err;
    }
  }
}

function countsOf(c: Counts): Counts {
  return { bytesToTarget: c.bytesToTarget, bytesFromTarget: c.bytesFromTarget, tunnels: c.tunnels };
}

function add(a: Counts, b: Counts): Counts {
  return {
    bytesToTarget: a.bytesToTarget + b.bytesToTarget,
    bytesFromTarget: a.bytesFromTarget + b.bytesFromTarget,
    tunnels: a.tunnels + b.tunnels,
  };
}

function sum(counts: Iterable<Counts>): Counts {
  let all = ZERO;
  for (const c of counts) all = add(all, c);
  return all;
}

function total(c: Counts): number {
  return c.bytesToTarget + c.bytesFromTarget;
}

function subtract(a: Counts, b: Counts): Counts {
  return add(a, { bytesToTarget: -b.bytesToTarget, bytesFromTarget: -b.bytesFromTarget, tunnels: -b.tunnels });
}

function sameCounts(a: Counts, b: Counts): boolean {
  return a.bytesToTarget === b.bytesToTarget && a.bytesFromTarget === b.bytesFromTarget && a.tunnels === b.tunnels;
}
