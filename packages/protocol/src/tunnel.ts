import { Duplex } from 'node:stream';
import { MeadowError } from './errors.ts';
import { INITIAL_WINDOW_BYTES } from './frame.ts';
import type { TunnelMux } from './mux.ts';
import type { Target } from './target.ts';

/** What the relay reports when a tunnel is up: the address it dialled and the address it dialled from. */
export interface TunnelInfo {
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
}

/**
 * A limit on the payload a tunnel may carry, both directions together (a customer's quota).
 * `take` books up to `bytes` and returns how many may pass; once it returns fewer, the tunnel is
 * cut with `exhausted()`.
 */
export interface ByteBudget {
  take(bytes: number): number;
  exhausted(): Error;
}

/**
 * Bytes of outgoing payload a tunnel holds before it stops accepting writes. The peer grants credit
 * a quarter of its window at a time (512 KiB at the 2 MiB maximum), so the queue must hold more
 * than one grant: then a grant that arrives is used at once, instead of the target socket being
 * resumed to refill an empty queue while the credit waits. A bulk download through the relay:
 * 1 MiB against 256 KiB, 1.39 × and 1.42 × the MB/s at 0.68 × the CPU per MB (`loadtest:bulk-ab`);
 * 512 KiB was no better than 256. With one 64 KiB read, the target socket paused and resumed for
 * every read (half the throughput). Only a tunnel whose peer is slower than its target fills it.
 */
const SEND_HIGH_WATER_BYTES = 1024 * 1024;
/**
 * A tunnel whose reader took a quarter of its window within this long of the previous grant is
 * limited by the window rather than the path: its window doubles.
 */
export const WINDOW_GROWTH_MS = 10;

/**
 * One tunnel inside a TunnelMux, as a Node Duplex: write to send towards the far side,
 * read what the far side sent. This is the one place payload bytes are counted.
 */
export class Tunnel extends Duplex {
  readonly id: number;
  readonly target: Target;
  info: TunnelInfo | undefined;
  /** Payload bytes this side sent into the tunnel. */
  bytesSent = 0;
  /** Payload bytes this side received from the tunnel. */
  bytesReceived = 0;
  /** @internal */
  queuedForFlush = false;
  /** Optional quota, checked as bytes are framed or received: the cut is exact. */
  budget: ByteBudget | undefined;

  private readonly mux: TunnelMux;
  private readonly outQueue: Buffer[] = [];
  private outQueuedBytes = 0;
  private sendCredit: number;
  private recvAllowance: number;
  private creditToGrant = 0;
  private creditHeld = 0;
  /** This side's receive window: starts at the mux's, grows for fast tunnels. */
  private window: number;
  private lastGrantAt = 0;
  private pendingWriteCallback: ((err?: Error | null) => void) | undefined;
  private finalCallback: ((err?: Error | null) => void) | undefined;
  private finQueued = false;
  private finSent = false;
  private finReceived = false;
  private peerGone = false;

  constructor(mux: TunnelMux, id: number, target: Target) {
    super({ allowHalfOpen: true });
    this.mux = mux;
    this.id = id;
    this.target = target;
    this.sendCredit = INITIAL_WINDOW_BYTES;
    this.recvAllowance = mux.windowBytes;
    this.window = mux.windowBytes;
  }

  /** This side's current receive window (bytes the peer may have in flight). */
  get receiveWindow(): number {
    return this.window;
  }

  // --- Duplex implementation ---

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (chunk.byteLength === 0) {
      callback();
      return;
    }
    this.outQueue.push(chunk);
    this.outQueuedBytes += chunk.byteLength;
    if (this.sendCredit > 0) this.mux.markReady(this);
    if (this.outQueuedBytes < SEND_HIGH_WATER_BYTES) callback();
    else this.pendingWriteCallback = callback;
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.finQueued = true;
    this.finalCallback = callback;
    this.mux.markReady(this);
  }

  override _read(): void {
    if (this.creditHeld > 0) {
      this.creditToGrant += this.creditHeld;
      this.creditHeld = 0;
      this.maybeGrant(true);
    }
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (this.idleTimer != null) clearTimeout(this.idleTimer);
    const clean = this.finSent && this.finReceived;
    if (!clean && !this.peerGone) this.mux.sendReset(this);
    this.outQueue.length = 0;
    this.outQueuedBytes = 0;
    this.mux.forget(this);
    const pending = this.pendingWriteCallback ?? this.finalCallback;
    this.pendingWriteCallback = undefined;
    this.finalCallback = undefined;
    pending?.(err ?? new MeadowError('MEADOW_ERR_RELAY_LOST', 'tunnel closed'));
    callback(err);
  }

  // --- socket-like surface, so node:http can use a tunnel as an agent's connection ---

  private idleTimer: NodeJS.Timeout | undefined;

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  /** Emits 'timeout' after `ms` without bytes in either direction (0 disables), like net.Socket. */
  setTimeout(ms: number, callback?: () => void): this {
    if (callback != null) this.once('timeout', callback);
    if (this.idleTimer != null) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (ms > 0) {
      const arm = (): void => {
        this.idleTimer = setTimeout(() => {
          if (this.lastActivity + ms <= Date.now()) this.emit('timeout');
          else arm();
        }, ms);
        this.idleTimer.unref();
      };
      arm();
    }
    return this;
  }

  private lastActivity = Date.now();

  // --- called by TunnelMux ---

  /** @internal */
  hasSendableData(): boolean {
    return this.outQueuedBytes > 0 && this.sendCredit > 0;
  }

  /** @internal Takes up to `maxBytes` of queued payload that the peer has credit for. */
  takeFrame(maxBytes: number): Buffer | undefined {
    let n = Math.min(maxBytes, this.sendCredit, this.outQueuedBytes);
    if (n <= 0) return undefined;
    if (this.budget != null) {
      const allowed = this.budget.take(n);
      if (allowed < n) {
        // Budget spent: send what it allows, drop the rest, and cut the tunnel.
        const err = this.budget.exhausted();
        queueMicrotask(() => this.destroy(err));
        const kept =
          allowed > 0 ? this.outQueue[0]?.subarray(0, Math.min(allowed, this.outQueue[0].byteLength)) : undefined;
        this.outQueue.length = 0;
        this.outQueuedBytes = 0;
        if (kept == null || kept.byteLength === 0) return undefined;
        this.sendCredit -= kept.byteLength;
        this.bytesSent += kept.byteLength;
        return kept;
      }
    }
    let frame: Buffer;
    const head = this.outQueue[0] as Buffer;
    if (head.byteLength <= n) {
      this.outQueue.shift();
      frame = head;
      n = head.byteLength;
    } else {
      frame = head.subarray(0, n);
      this.outQueue[0] = head.subarray(n);
    }
    this.outQueuedBytes -= n;
    this.lastActivity = Date.now();
    this.sendCredit -= n;
    this.bytesSent += n;
    if (this.pendingWriteCallback != null && this.outQueuedBytes < SEND_HIGH_WATER_BYTES) {
      const callback = this.pendingWriteCallback;
      this.pendingWriteCallback = undefined;
      callback();
    }
    return frame;
  }

  /** @internal True once, when every queued byte has been framed and a FIN is due. */
  takeFin(): boolean {
    if (!this.finQueued || this.finSent || this.outQueuedBytes > 0) return false;
    this.finSent = true;
    const callback = this.finalCallback;
    this.finalCallback = undefined;
    callback?.();
    return true;
  }

  /** @internal Returns false when the peer overran its credit. */
  onRemoteData(payload: Uint8Array): boolean {
    if (payload.byteLength > this.recvAllowance) return false;
    if (this.budget != null) {
      const allowed = this.budget.take(payload.byteLength);
      if (allowed < payload.byteLength) {
        this.bytesReceived += allowed;
        if (allowed > 0) this.push(Buffer.from(payload.buffer, payload.byteOffset, allowed));
        this.destroy(this.budget.exhausted());
        return true;
      }
    }
    this.recvAllowance -= payload.byteLength;
    this.lastActivity = Date.now();
    this.bytesReceived += payload.byteLength;
    const chunk = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    if (this.push(chunk)) {
      this.creditToGrant += payload.byteLength;
      this.maybeGrant(false);
    } else {
      this.creditHeld += payload.byteLength;
    }
    return true;
  }

  /** @internal */
  onRemoteCredit(bytes: number): void {
    this.sendCredit += bytes;
    if (this.outQueuedBytes > 0 || this.finQueued) this.mux.markReady(this);
  }

  /** @internal */
  onRemoteFin(): void {
    if (this.finReceived) return;
    this.finReceived = true;
    this.push(null);
  }

  /** @internal */
  onRemoteReset(): void {
    this.peerGone = true;
    this.destroy(new MeadowError('MEADOW_ERR_RELAY_LOST', 'tunnel reset by peer', { hop: 'relay' }));
  }

  /** @internal The peer already considers this tunnel gone: do not send RST for it. */
  markClosedByPeer(): void {
    this.peerGone = true;
  }

  private maybeGrant(force: boolean): void {
    const threshold = this.window >>> 2;
    if (this.creditToGrant === 0 || (!force && this.creditToGrant < threshold)) return;
    let grant = this.creditToGrant;
    const now = performance.now();
    // Only a reader that took a quarter of the window within WINDOW_GROWTH_MS of the previous grant
    // makes the window grow, so a slow client never has more than the initial window buffered for
    // it. Credit held while the reader's destination was full counts too: a fast download fills
    // the client's socket between its reads, and without it such a tunnel never grew.
    if (grant >= threshold && now - this.lastGrantAt < WINDOW_GROWTH_MS && this.window < this.mux.maxWindowBytes) {
      const extra = Math.min(this.window, this.mux.maxWindowBytes - this.window);
      this.window += extra;
      grant += extra;
    }
    this.lastGrantAt = now;
    this.recvAllowance += grant;
    this.mux.sendCredit(this, grant);
    this.creditToGrant = 0;
  }
}

export function encodeTunnelInfo(info: TunnelInfo): Buffer {
  return Buffer.from(JSON.stringify([info.remoteAddress, info.remotePort, info.localAddress, info.localPort]), 'utf8');
}

export function decodeTunnelInfo(payload: Uint8Array): TunnelInfo {
  const parsed: unknown = JSON.parse(
    Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'),
  );
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 4 ||
    typeof parsed[0] !== 'string' ||
    typeof parsed[1] !== 'number' ||
    typeof parsed[2] !== 'string' ||
    typeof parsed[3] !== 'number'
  ) {
    throw new Error('malformed OK frame');
  }
  return { remoteAddress: parsed[0], remotePort: parsed[1], localAddress: parsed[2], localPort: parsed[3] };
}
