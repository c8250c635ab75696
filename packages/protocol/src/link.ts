import type { Socket } from 'node:net';
import type { Stream } from '@libp2p/interface';
import { Uint8ArrayList } from 'uint8arraylist';

/** What the tunnel mux needs from whatever carries its frames: a libp2p stream in production, a socket in benchmarks. */
export interface FrameLink {
  start(handlers: LinkHandlers): void;
  /** Queues the parts as one write (no copy into one buffer); false means stop writing until onDrain. */
  write(parts: Uint8Array[]): boolean;
  abort(err: Error): void;
  /** Bytes written and not yet handed to the connection beneath (a libp2p stream buffers them). */
  buffered?(): number;
}

export interface LinkHandlers {
  onData(chunk: Uint8Array): void;
  onDrain(): void;
  onClose(err?: Error): void;
  /** When given: called each time the link's own buffer empties. */
  onIdle?(): void;
}

export function streamLink(stream: Stream): FrameLink {
  return {
    start(handlers) {
      stream.addEventListener('message', (evt) => {
        const data = evt.data;
        if (data instanceof Uint8Array) handlers.onData(data);
        // Part by part: subarray() would copy every byte of the list into one buffer first.
        else for (const part of data) handlers.onData(part);
      });
      stream.addEventListener('drain', () => handlers.onDrain());
      const onIdle = handlers.onIdle;
      if (onIdle != null) stream.addEventListener('idle', () => onIdle());
      stream.addEventListener('remoteCloseWrite', () => {
        if (stream.writeStatus === 'writable') void stream.close().catch(() => {});
      });
      stream.addEventListener('close', (evt) => handlers.onClose(evt.error));
    },
    write(parts) {
      if (stream.writeStatus !== 'writable') return false;
      // A list, not a concatenation: yamux and noise slice it as they frame it, nothing is copied here.
      return stream.send(parts.length === 1 ? (parts[0] as Uint8Array) : new Uint8ArrayList(...parts));
    },
    abort(err) {
      stream.abort(err);
    },
    buffered: () => stream.writeBufferLength,
  };
}

export function socketLink(socket: Socket): FrameLink {
  return {
    start(handlers) {
      socket.on('data', (chunk: Buffer) => handlers.onData(chunk));
      socket.on('drain', () => handlers.onDrain());
      socket.on('end', () => socket.end());
      let failure: Error | undefined;
      socket.on('error', (err) => {
        failure = err;
      });
      socket.on('close', () => handlers.onClose(failure));
    },
    write(parts) {
      if (socket.destroyed || !socket.writable) return false;
      socket.cork();
      let ok = true;
      for (const part of parts) ok = socket.write(part);
      socket.uncork();
      return ok;
    },
    abort(err) {
      socket.destroy(err);
    },
  };
}
