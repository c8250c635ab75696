import { Socket } from 'node:net';

/**
 * Ends a connection so that its peer sees a cut, never a clean end: a TCP RST. A TLS socket (the
 * gateway's HTTPS proxy port) sends it on the TCP socket under it (Node keeps that as `_parent`):
 * destroying the TLS layer alone ends with a FIN, which Node's TLS clients read as a clean end.
 */
export function resetSocket(socket: Socket): void {
  const tcp = (socket as { _parent?: unknown })._parent;
  try {
    if (tcp instanceof Socket) {
      tcp.resetAndDestroy();
      socket.destroy();
    } else socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}
