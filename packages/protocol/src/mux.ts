import { codeForTunnelReason, type ErrorCode, MeadowError, tunnelReasonFor } from './errors.ts';
import { encodeFrame, encodeFrameHeader, type Frame, FrameDecoder, FrameType, INITIAL_WINDOW_BYTES } from './frame.ts';
import type { FrameLink } from './link.ts';
import { decodeTarget, encodeTarget, type Target } from './target.ts';
import { decodeTunnelInfo, encodeTunnelInfo, Tunnel, type TunnelInfo } from './tunnel.ts';

export interface TunnelMuxInit {
  /** Bytes a peer may send on one tunnel before it is granted more credit. */
  windowBytes?: number;
  /**
   * Largest window a fast tunnel grows to: one whose reader keeps up while the peer uses a
   * quarter of the window within `WINDOW_GROWTH_MS` gets its window doubled, up to this.
   */
  maxWindowBytes?: number;
  /** Largest DATA payload this side sends. */
  maxFrameBytes?: number;
  /** Most bytes written to the link in one flush (one event-loop turn). */
  maxBatchBytes?: number;
  /** Called on the accepting side for every OPEN; answer with accept() or reject(). */
  onOpen?: (request: OpenRequest) => void;
  /** Called once when the link is gone and every tunnel on it has been torn down. */
  onClose?: (err?: Error) => void;
  /** Called for link-level notices (tunnel id 0), e.g. NOTICE_DESCRIPTOR_CHANGED. */
  onNotice?: (notice: number) => void;
  /** Paces the DATA this side sends (a relay yielding to its household); control frames are never held. */
  pacer?: LinkPacer;
}

/**
 * A budget for DATA payload sent on links: one pacer may be shared by every link of a process
 * (a relay's gateway links all cross the household's one line). Data beyond the budget waits in
 * its tunnel's queue, not in the socket or the modem, so that a ping can pass it.
 */
export interface LinkPacer {
  /** Payload bytes that may go now: `Infinity` when nothing is paced. */
  allowance(): number;
  /** Books payload bytes written to a link. */
  spend(bytes: number): void;
  /** How long until some allowance is back (ms). */
  waitMs(): number;
}

export interface OpenRequest {
  readonly target: Target;
  readonly tunnel: Tunnel;
  accept(info: TunnelInfo): void;
  reject(code: ErrorCode, message: string): void;
}

export const DEFAULT_WINDOW_BYTES = 512 * 1024;
export const DEFAULT_MAX_WINDOW_BYTES = 2 * 1024 * 1024;
/** Link notice: the sender republished its descriptor; the receiver may fetch it again from the DHT. */
export const NOTICE_DESCRIPTOR_CHANGED = 1;
/**
 * Link notice from a relay: it is moving to another gateway, so the receiver should open no more
 * tunnels over this link; the relay closes it once the open ones have ended.
 */
export const NOTICE_RELAY_LEAVING = 2;
/**
 * Link notice from a relay: it is stopping. As with NOTICE_RELAY_LEAVING the receiver opens no more
 * tunnels over this link, and once the open ones have ended it proposes a last receipt, which the
 * relay waits a few seconds for before it closes.
 */
export const NOTICE_RELAY_STOPPING = 3;
const DEFAULT_MAX_FRAME_BYTES = 64 * 1024;
const DEFAULT_MAX_BATCH_BYTES = 1024 * 1024;
/** A link holds at most about this much of its own beyond one batch (see `flush`). */
const LINK_BUFFER_BYTES = 64 * 1024;

interface PendingOpen {
  tunnel: Tunnel;
  resolve: (tunnel: Tunnel) => void;
  reject: (err: Error) => void;
  cleanup: () => void;
}

/**
 * Carries many tunnels inside one long-lived link. Every tunnel has its own credit window, so a
 * slow reader on one tunnel never stops the link (and so never stops the others); frames of all
 * tunnels are written together once per event-loop turn, taking turns between tunnels with data.
 */
export class TunnelMux {
  readonly windowBytes: number;
  readonly maxWindowBytes: number;
  readonly maxFrameBytes: number;
  private readonly maxBatchBytes: number;
  private readonly link: FrameLink;
  private readonly init: TunnelMuxInit;
  private readonly decoder = new FrameDecoder();
  private readonly tunnels = new Map<number, Tunnel>();
  private readonly pendingOpens = new Map<number, PendingOpen>();
  private readonly control: Buffer[] = [];
  private ready: Tunnel[] = [];
  private nextTunnelId = 1;
  private flushScheduled = false;
  private pacedFlush: NodeJS.Timeout | undefined;
  /** DATA waits while the link itself buffers more than `LINK_BUFFER_BYTES`. */
  private waitingForIdle = false;
  private waitingForDrain = false;
  private closed = false;
  private receivedAt = Date.now();
  /** Incoming tunnels not yet accepted or rejected: their owner may not listen for 'error' yet. */
  private readonly unanswered = new Set<Tunnel>();

  constructor(link: FrameLink, init: TunnelMuxInit = {}) {
    this.link = link;
    this.init = init;
    this.windowBytes = init.windowBytes ?? DEFAULT_WINDOW_BYTES;
    if (this.windowBytes < INITIAL_WINDOW_BYTES)
      throw new RangeError(`windowBytes must be at least ${INITIAL_WINDOW_BYTES}`);
    this.maxWindowBytes = Math.max(this.windowBytes, init.maxWindowBytes ?? DEFAULT_MAX_WINDOW_BYTES);
    this.maxFrameBytes = init.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.maxBatchBytes = init.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    link.start({
      onData: (chunk) => this.onData(chunk),
      onDrain: () => {
        this.waitingForDrain = false;
        this.scheduleFlush();
      },
      onClose: (err) => this.shutdown(err ?? new MeadowError('MEADOW_ERR_RELAY_LOST', 'tunnel link closed')),
      onIdle: () => {
        if (!this.waitingForIdle) return;
        this.waitingForIdle = false;
        this.scheduleFlush();
      },
    });
  }

  get activeTunnels(): number {
    return this.tunnels.size;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** When bytes last arrived on the link (ms): a link with open tunnels and no bytes may be stalled. */
  get lastReceivedAt(): number {
    return this.receivedAt;
  }

  /** Opens a tunnel to `target`; resolves once the far side has connected to it. */
  open(target: Target, options: { signal?: AbortSignal } = {}): Promise<Tunnel> {
    if (this.closed) return Promise.reject(new MeadowError('MEADOW_ERR_RELAY_LOST', 'tunnel link is closed'));
    options.signal?.throwIfAborted();
    const id = this.nextTunnelId;
    this.nextTunnelId = this.nextTunnelId >= 0xffff_fffe ? 1 : this.nextTunnelId + 1;
    const tunnel = new Tunnel(this, id, target);
    return new Promise<Tunnel>((resolve, reject) => {
      const onAbort = (): void => {
        const pending = this.pendingOpens.get(id);
        if (pending == null) return;
        this.pendingOpens.delete(id);
        const reason = options.signal?.reason;
        tunnel.destroy();
        reject(reason instanceof Error ? reason : new MeadowError('MEADOW_ERR_RELAY_TIMEOUT', 'tunnel open aborted'));
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.pendingOpens.set(id, {
        tunnel,
        resolve,
        reject,
        cleanup: () => options.signal?.removeEventListener('abort', onAbort),
      });
      this.tunnels.set(id, tunnel);
      this.sendControl(FrameType.OPEN, id, encodeTarget(target));
      this.grantExtraWindow(tunnel);
    });
  }

  /** Sends a link-level notice (a hint only: the receiver checks anything that matters itself). */
  notify(notice: number): void {
    this.sendControl(FrameType.NOTICE, 0, Uint8Array.of(notice));
  }

  abort(err: Error): void {
    if (this.closed) return;
    this.link.abort(err);
    this.shutdown(err);
  }

  // --- called by Tunnel ---

  /** @internal */
  markReady(tunnel: Tunnel): void {
    if (tunnel.queuedForFlush) return;
    tunnel.queuedForFlush = true;
    this.ready.push(tunnel);
    this.scheduleFlush();
  }

  /** @internal */
  sendCredit(tunnel: Tunnel, bytes: number): void {
    const payload = Buffer.allocUnsafe(4);
    payload.writeUInt32BE(bytes, 0);
    this.sendControl(FrameType.CREDIT, tunnel.id, payload);
  }

  private grantExtraWindow(tunnel: Tunnel): void {
    if (this.windowBytes > INITIAL_WINDOW_BYTES) this.sendCredit(tunnel, this.windowBytes - INITIAL_WINDOW_BYTES);
  }

  /** @internal */
  sendReset(tunnel: Tunnel): void {
    this.sendControl(FrameType.RST, tunnel.id);
  }

  /** @internal */
  forget(tunnel: Tunnel): void {
    if (this.tunnels.get(tunnel.id) === tunnel) this.tunnels.delete(tunnel.id);
    const pending = this.pendingOpens.get(tunnel.id);
    if (pending != null && pending.tunnel === tunnel) {
      this.pendingOpens.delete(tunnel.id);
      pending.cleanup();
      pending.reject(new MeadowError('MEADOW_ERR_RELAY_LOST', 'tunnel closed before it opened'));
    }
  }

  // --- frames out ---

  private sendControl(type: FrameType, tunnelId: number, payload?: Uint8Array): void {
    if (this.closed) return;
    this.control.push(encodeFrame(type, tunnelId, payload));
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.pacedFlush != null || this.waitingForDrain || this.closed) return;
    if (this.waitingForIdle && this.control.length === 0) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.waitingForDrain) return;
    const parts: Buffer[] = this.control.splice(0);
    let batchBytes = 0;
    for (const part of parts) batchBytes += part.byteLength;
    const pacer = this.init.pacer;
    const allowance = pacer == null ? Number.POSITIVE_INFINITY : pacer.allowance();
    // A libp2p stream takes whatever it is given and queues what its connection cannot send yet:
    // megabytes, on a slow upload, which would take many seconds to go out. Control frames (a new
    // tunnel's OPEN_OK) and other streams on the connection (pings) would wait behind them, and no
    // pace could drain them. So DATA waits in the tunnels instead, taking turns, under a pace if any.
    const linkFull = (this.link.buffered?.() ?? 0) > LINK_BUFFER_BYTES;
    const limit = linkFull ? batchBytes : Math.min(this.maxBatchBytes, batchBytes + allowance);
    let dataBytes = 0;

    // Round-robin: one frame per ready tunnel per pass, until the batch is full.
    while (this.ready.length > 0 && batchBytes < limit) {
      const pass = this.ready;
      this.ready = [];
      const served: Tunnel[] = [];
      let i = 0;
      for (; i < pass.length && batchBytes < limit; i++) {
        const tunnel = pass[i] as Tunnel;
        const frame = tunnel.takeFrame(
          allowance === Number.POSITIVE_INFINITY
            ? this.maxFrameBytes
            : Math.min(this.maxFrameBytes, Math.ceil(limit - batchBytes)),
        );
        if (frame != null) {
          parts.push(encodeFrameHeader(FrameType.DATA, tunnel.id, frame.byteLength), frame);
          batchBytes += frame.byteLength;
          dataBytes += frame.byteLength;
        }
        if (tunnel.hasSendableData()) {
          served.push(tunnel);
        } else {
          tunnel.queuedForFlush = false;
          if (tunnel.takeFin()) parts.push(encodeFrame(FrameType.FIN, tunnel.id));
        }
      }
      // A full batch ends a pass early: the tunnels it had no room for go first next time, then
      // those that became ready meanwhile, then those just served. Served first again, the first
      // few tunnels of a busy link would take every batch and starve the rest (and every new one).
      if (i < pass.length) this.ready = [...pass.slice(i), ...this.ready, ...served];
      else if (this.ready.length === 0) this.ready = served;
      else this.ready.push(...served);
    }

    pacer?.spend(dataBytes);
    if (parts.length > 0) {
      const ok = this.link.write(parts);
      if (!ok) {
        this.waitingForDrain = true;
        return;
      }
    }
    if (linkFull && this.ready.length > 0) {
      this.waitingForIdle = true;
      return;
    }
    if (pacer != null && this.ready.length > 0 && this.control.length === 0 && pacer.allowance() < 1) {
      // Out of budget: the next flush comes when some is back, not on the next turn.
      this.pacedFlush = setTimeout(() => {
        this.pacedFlush = undefined;
        this.scheduleFlush();
      }, pacer.waitMs());
      return;
    }
    if (this.ready.length > 0 || this.control.length > 0) this.scheduleFlush();
  }

  // --- frames in ---

  private onData(chunk: Uint8Array): void {
    if (this.closed) return;
    this.receivedAt = Date.now();
    try {
      this.decoder.push(chunk, (frame) => this.onFrame(frame));
    } catch (err) {
      this.abort(new MeadowError('MEADOW_ERR_TUNNEL_PROTOCOL', (err as Error).message, { cause: err }));
    }
  }

  private onFrame(frame: Frame): void {
    const { type, tunnelId, payload } = frame;
    if (type === FrameType.OPEN) {
      this.onOpenFrame(tunnelId, payload);
      return;
    }
    if (type === FrameType.NOTICE) {
      if (tunnelId !== 0 || payload.byteLength !== 1) throw new Error('NOTICE must have tunnel id 0 and one byte');
      this.init.onNotice?.(payload[0] as number);
      return;
    }
    const tunnel = this.tunnels.get(tunnelId);
    if (tunnel == null) return; // frames racing a reset of this tunnel
    switch (type) {
      case FrameType.DATA:
        if (!tunnel.onRemoteData(payload)) {
          this.sendReset(tunnel);
          tunnel.destroy(new MeadowError('MEADOW_ERR_TUNNEL_PROTOCOL', 'peer sent beyond its credit window'));
        }
        return;
      case FrameType.CREDIT:
        if (payload.byteLength !== 4) throw new Error('CREDIT frame must carry 4 bytes');
        tunnel.onRemoteCredit(Buffer.from(payload.buffer, payload.byteOffset, 4).readUInt32BE(0));
        return;
      case FrameType.FIN:
        tunnel.onRemoteFin();
        return;
      case FrameType.RST:
        if (this.unanswered.has(tunnel) || this.pendingOpens.get(tunnelId)?.tunnel === tunnel) {
          // Still opening: nobody listens for 'error' on it yet (an 'error' event would take the
          // process down); its owner sees 'close' (accepting side) or a rejected open() (opener).
          tunnel.markClosedByPeer();
          tunnel.destroy();
        } else tunnel.onRemoteReset();
        return;
      case FrameType.OK:
      case FrameType.ERR:
        this.onOpenReply(tunnel, type, payload);
        return;
    }
  }

  private onOpenFrame(tunnelId: number, payload: Uint8Array): void {
    if (this.tunnels.has(tunnelId)) throw new Error(`OPEN for tunnel ${tunnelId}, which is already open`);
    const onOpen = this.init.onOpen;
    let target: Target;
    try {
      if (onOpen == null) throw new MeadowError('MEADOW_ERR_BAD_REQUEST', 'this side does not accept tunnels');
      target = decodeTarget(payload);
    } catch (err) {
      this.sendControl(FrameType.ERR, tunnelId, encodeErr('MEADOW_ERR_BAD_REQUEST', (err as Error).message));
      return;
    }
    const tunnel = new Tunnel(this, tunnelId, target);
    this.tunnels.set(tunnelId, tunnel);
    this.unanswered.add(tunnel);
    tunnel.once('close', () => this.unanswered.delete(tunnel));
    let answered = false;
    onOpen({
      target,
      tunnel,
      accept: (info) => {
        if (answered || tunnel.destroyed) return;
        answered = true;
        this.unanswered.delete(tunnel);
        tunnel.info = info;
        this.sendControl(FrameType.OK, tunnelId, encodeTunnelInfo(info));
        this.grantExtraWindow(tunnel);
      },
      reject: (code, message) => {
        if (answered || tunnel.destroyed) return;
        answered = true;
        this.unanswered.delete(tunnel);
        this.sendControl(FrameType.ERR, tunnelId, encodeErr(code, message));
        tunnel.markClosedByPeer();
        tunnel.destroy();
      },
    });
  }

  private onOpenReply(tunnel: Tunnel, type: FrameType, payload: Uint8Array): void {
    const pending = this.pendingOpens.get(tunnel.id);
    if (pending == null || pending.tunnel !== tunnel) throw new Error(`unexpected open reply for tunnel ${tunnel.id}`);
    this.pendingOpens.delete(tunnel.id);
    pending.cleanup();
    if (type === FrameType.OK) {
      tunnel.info = decodeTunnelInfo(payload);
      pending.resolve(tunnel);
      return;
    }
    const { code, message } = decodeErr(payload);
    tunnel.markClosedByPeer();
    tunnel.destroy();
    pending.reject(new MeadowError(code, message, { hop: TARGET_SIDE_CODES.has(code) ? 'target' : 'relay' }));
  }

  private shutdown(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.control.length = 0;
    this.ready = [];
    if (this.pacedFlush != null) clearTimeout(this.pacedFlush);
    this.pacedFlush = undefined;
    // A tunnel still opening belongs to no one yet: its error goes to the open() promise only (or,
    // on the accepting side, shows as 'close' before an answer). An 'error' event on it would have
    // no listener and take the process down (found under relay churn).
    const opening = new Set<Tunnel>(this.unanswered);
    this.unanswered.clear();
    for (const pending of this.pendingOpens.values()) {
      pending.cleanup();
      pending.reject(err);
      opening.add(pending.tunnel);
    }
    this.pendingOpens.clear();
    for (const tunnel of [...this.tunnels.values()]) {
      tunnel.markClosedByPeer();
      tunnel.destroy(opening.has(tunnel) ? undefined : err);
    }
    this.tunnels.clear();
    this.init.onClose?.(err);
  }
}

/** Failures the target itself caused, as opposed to the relay's refusals. */
const TARGET_SIDE_CODES: ReadonlySet<ErrorCode> = new Set([
  'MEADOW_ERR_DNS_FAILED',
  'MEADOW_ERR_TARGET_REFUSED',
  'MEADOW_ERR_TARGET_TIMEOUT',
  'MEADOW_ERR_TARGET_UNREACHABLE',
]);

function encodeErr(code: ErrorCode, message: string): Buffer {
  const text = Buffer.from(message.slice(0, 200), 'utf8');
  const out = Buffer.allocUnsafe(1 + text.byteLength);
  out[0] = tunnelReasonFor(code);
  text.copy(out, 1);
  return out;
}

function decodeErr(payload: Uint8Array): { code: ErrorCode; message: string } {
  const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (buf.byteLength < 1) return { code: 'MEADOW_ERR_TUNNEL_PROTOCOL', message: 'empty ERR frame' };
  return { code: codeForTunnelReason(buf[0] as number), message: buf.subarray(1).toString('utf8') };
}
