import type { Socket } from 'node:net';

/**
 * Reads an HTTP head off `socket` (a request or a response): `then` gets the head through its blank
 * line and any bytes that came behind it, with the socket paused. A head longer than `maxBytes` gets
 * the socket destroyed. Returns a function that stops reading (for a caller that gives up first).
 */
export function readHead(
  socket: Socket,
  then: (head: Buffer, behind: Buffer) => void,
  maxBytes = 8 * 1024,
): () => void {
  let head: Buffer = Buffer.alloc(0);
  const stop = (): void => void socket.removeListener('data', onData);
  const onData = (chunk: Buffer): void => {
    head = head.byteLength === 0 ? chunk : Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) {
      if (head.byteLength > maxBytes) socket.destroy();
      return;
    }
    stop();
    socket.pause();
    then(head.subarray(0, end + 4), head.subarray(end + 4));
  };
  socket.on('data', onData);
  return stop;
}
