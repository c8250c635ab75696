import type { Socket } from 'node:net';
import type { Duplex, Transform } from 'node:stream';

export interface BridgeResult {
  /** Both directions ended with FIN; false if either side was reset or failed. */
  clean: boolean;
  error?: Error;
}

/**
 * Joins a client or target socket to a tunnel: bytes flow both ways with backpressure (pipe waits
 * for drain), half-close travels per direction, and an error or reset on either side tears down
 * both at once — the socket with a TCP RST, so a truncated body never looks complete.
 * The socket must allow half-open connections (`allowHalfOpen: true`), or one FIN closes both ways.
 */
export interface BridgeOptions {
  /** Bytes read from the socket pass through this on their way into the tunnel. */
  fromSocket?: Transform;
  /** Bytes read from the tunnel pass through this on their way to the socket. */
  toSocket?: Transform;
}

export function bridge(socket: Socket, tunnel: Duplex, options: BridgeOptions = {}): Promise<BridgeResult> {
  return new Promise((resolve) => {
    let settled = false;
    let failure: Error | undefined;
    let closedCount = 0;

    const fail = (err: Error): void => {
      failure ??= err;
      if (!socket.destroyed) socket.resetAndDestroy();
      if (!tunnel.destroyed) tunnel.destroy(err);
      options.fromSocket?.destroy();
      options.toSocket?.destroy();
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

    // A DATA frame that spanned several reads of the link arrives as several pieces in one turn of
    // the event loop: cork the socket for the rest of the turn, so they go out as one writev instead
    // of one write each. Registered before pipe(), so the socket is corked before the first piece.
    let corked = false;
    (options.toSocket ?? tunnel).on('data', () => {
      if (corked) return;
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    });
    socket.on('error', fail);
    tunnel.on('error', fail);
    socket.once('close', onClose);
    tunnel.once('close', onClose);
    options.fromSocket?.on('error', fail);
    options.toSocket?.on('error', fail);
    if (options.fromSocket == null) socket.pipe(tunnel);
    else socket.pipe(options.fromSocket).pipe(tunnel);
    if (options.toSocket == null) tunnel.pipe(socket);
    else tunnel.pipe(options.toSocket).pipe(socket);
  });
}
