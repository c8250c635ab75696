import type { Socket } from 'node:net';
import type { Stream } from '@libp2p/interface';

/** What the tunnel mux needs from whatever carries its frames: a libp2p stream in production, a socket in benchmarks. */
export interface FrameLink {
  start(handlers: LinkHandlers): void;
  /** Queues bytes; false means stop writing until onDrain. */
  write(data: Uint8Array): boolean;
  abort(err: Error): void;
}

export interface LinkHandlers {
  onData(chunk: Uint8Array): void;
  onDrain(): void;
  onClose(err?: Error): void;
}

export function streamLink(stream: Stream): FrameLink {
  return {
    start(handlers) {
      stream.addEventListener('message', (evt) => {
        const data = evt.data;
        handlers.onData(data instanceof Uint8Array ? data : data.subarray());
      });
      stream.addEventListener('drain', () => handlers.onDrain());
      stream.addEventListener('remoteCloseWrite', () => {
        if (stream.writeStatus === 'writable') void stream.close().catch(() => {});
      });
      stream.addEventListener('close', (evt) => handlers.onClose(evt.error));
    },
    write(data) {
      if (stream.writeStatus !== 'writable') return false;
      return stream.send(data);
    },
    abort(err) {
      stream.abort(err);
    },
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
    write(data) {
      if (socket.destroyed || !socket.writable) return false;
      return socket.write(data);
    },
    abort(err) {
      socket.destroy(err);
    },
  };
}
