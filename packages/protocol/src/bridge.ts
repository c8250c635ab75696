import type { Socket } from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';
import { resetSocket } from './reset-socket.ts';

export interface BridgeResult {
  /** Both directions ended with FIN; false if either side was reset or failed. */
  clean: boolean;
  error?: Error;
}

/**
 * Sees every chunk on its way through one direction of a bridge: counts it, may hold it back (a
 * rate limit) or stop the flow (a cap). `forward` passes bytes on; the gate may call it for all of
 * the chunk, for part of it, or for the chunk in pieces over time, asking `open` before each later
 * piece (a bridge torn down meanwhile takes nothing more, so nothing more is counted).
 * Returns nothing when it is done with the chunk, an error when the flow must stop after what it
 * forwarded, or a promise that settles when it is done with the chunk (rejecting to stop the flow).
 */
export interface ByteGate {
  admit(chunk: Buffer, forward: (part: Buffer) => void, open: () => boolean): Error | Promise<void> | undefined;
}

/**
 * Joins a client or target socket to a tunnel: bytes flow both ways with backpressure (a side
 * whose destination is full is paused until it drains), half-close travels per direction, and an
 * error or reset on either side tears down both at once — the socket with a TCP RST, so a
 * truncated body never looks complete.
 * The socket must allow half-open connections (`allowHalfOpen: true`), or one FIN closes both ways.
 */
export interface BridgeOptions {
  /** Bytes read from the socket pass this gate on their way into the tunnel. */
  fromSocket?: ByteGate;
  /** Bytes read from the tunnel pass this gate on their way to the socket. */
  toSocket?: ByteGate;
}

export function bridge(socket: Socket, tunnel: Duplex, options: BridgeOptions = {}): Promise<BridgeResult> {
  return new Promise((resolve) => {
    let settled = false;
    let failure: Error | undefined;
    let closedCount = 0;

    const fail = (err: Error): void => {
      failure ??= err;
      if (!socket.destroyed) resetSocket(socket);
      if (!tunnel.destroyed) tunnel.destroy(err);
    };
    const onClose = (): void => {
      closedCount++;
      // One side closed without a clean end in both directions: take the other down too.
      if (!socket.destroyed && tunnel.destroyed && !(tunnel.readableEnded && tunnel.writableFinished)) {
        fail(failure ?? new Error('tunnel closed'));
      }
      // A socket that closed while the tunnel still had bytes to deliver cannot take them any more.
      if (
        !tunnel.destroyed &&
        socket.destroyed &&
        !(socket.readableEnded && socket.writableFinished && tunnel.readableEnded)
      ) {
        fail(failure ?? new Error('socket closed'));
      }
      if (closedCount === 2 && !settled) {
        settled = true;
        resolve(failure == null ? { clean: true } : { clean: false, error: failure });
      }
    };

    socket.on('error', fail);
    tunnel.on('error', fail);
    socket.once('close', onClose);
    tunnel.once('close', onClose);
    pump(socket, tunnel, options.fromSocket, fail, undefined);
    // A DATA frame that spanned several reads of the link arrives as several pieces in one turn of
    // the event loop: the socket is corked for the rest of the turn, so they go out as one writev
    // instead of one write each.
    pump(tunnel, socket, options.toSocket, fail, socket);
  });
}

/**
 * Moves one direction: what `from` reads goes through the gate into `to`; `from` pauses while
 * `to` is full or the gate holds a chunk, and its end ends `to`. What `Readable.pipe` does, with
 * the gate in the same step and without pipe's per-stream listeners (this runs once per tunnel
 * and direction, on the busiest path there is).
 */
function pump(
  from: Readable,
  to: Writable,
  gate: ByteGate | undefined,
  fail: (err: Error) => void,
  corkable: Socket | undefined,
): void {
  let full = false;
  let corked = false;
  const uncork = (): void => {
    corked = false;
    corkable?.uncork();
  };
  const open = (): boolean => !to.destroyed;
  const forward = (part: Buffer): void => {
    if (corkable != null && !corked) {
      corked = true;
      corkable.cork();
      process.nextTick(uncork);
    }
    if (!to.write(part)) full = true;
  };
  const resume = (): void => {
    full = false;
    from.resume();
  };
  const afterChunk = (): void => {
    if (!full) return;
    from.pause();
    to.once('drain', resume);
  };
  // `from` may emit 'end' while a chunk is held even though it is paused (a Readable schedules
  // 'end' when its last chunk is read, before handing that chunk out), so the end waits too.
  let holding = false;
  let ended = false;
  const afterHeldChunk = (): void => {
    holding = false;
    if (to.destroyed) return;
    if (ended) to.end();
    else if (full) to.once('drain', resume);
    else from.resume();
  };
  from.on('data', (chunk: Buffer) => {
    if (gate == null) {
      forward(chunk);
      afterChunk();
      return;
    }
    const outcome = gate.admit(chunk, forward, open);
    if (outcome == null) afterChunk();
    else if (outcome instanceof Error) fail(outcome);
    else {
      holding = true;
      from.pause();
      outcome.then(afterHeldChunk, fail);
    }
  });
  from.once('end', () => {
    ended = true;
    if (!holding) to.end();
  });
}
