import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import {
  bridge,
  type Frame,
  FrameType,
  type OpenRequest,
  socketLink,
  TunnelMux,
  type TunnelMuxInit,
} from '../src/index.ts';

/** Two TunnelMux ends joined by a real loopback TCP connection. */
export async function muxPair(
  acceptorInit: TunnelMuxInit,
  openerInit: TunnelMuxInit = {},
): Promise<{ opener: TunnelMux; acceptor: TunnelMux; close: () => Promise<void> }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  const [serverSocket] = await accepted;
  const opener = new TunnelMux(socketLink(client), openerInit);
  const acceptor = new TunnelMux(socketLink(serverSocket), acceptorInit);
  return {
    opener,
    acceptor,
    close: async () => {
      client.destroy();
      serverSocket.destroy();
      await closeServer(server);
    },
  };
}

/** A loopback TCP server handing each connection to `onSocket`; resolves with its port and a way to close it. */
export async function tcpServer(
  onSocket: (socket: Socket) => void,
  options: { allowHalfOpen?: boolean } = {},
): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer(options, (socket) => {
    socket.on('error', () => {});
    onSocket(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, close: () => closeServer(server) };
}

export async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Accepts every OPEN by connecting to the target for real, as a relay would (no egress policy here). */
export function connectingAcceptor(): (request: OpenRequest) => void {
  return (request) => {
    const socket = connect({ port: request.target.port, host: request.target.host, allowHalfOpen: true });
    socket.setNoDelay(true);
    socket.once('error', (err: NodeJS.ErrnoException) => {
      request.reject(
        err.code === 'ECONNREFUSED' ? 'MEADOW_ERR_TARGET_REFUSED' : 'MEADOW_ERR_TARGET_UNREACHABLE',
        err.message,
      );
    });
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      request.accept({
        remoteAddress: socket.remoteAddress ?? '',
        remotePort: socket.remotePort ?? 0,
        localAddress: socket.localAddress ?? '',
        localPort: socket.localPort ?? 0,
      });
      void bridge(socket, request.tunnel);
    });
  };
}

/**
 * Frames with consecutive DATA of one tunnel joined into one frame: the decoder may hand a DATA
 * payload on in pieces, and a tunnel's data is a byte stream, so this is what must match.
 */
export function joinDataPieces(frames: Frame[]): Frame[] {
  const joined: { frame: Frame; parts: Uint8Array[] }[] = [];
  for (const frame of frames) {
    const last = joined.at(-1)?.frame;
    if (frame.type === FrameType.DATA && last?.type === FrameType.DATA && last.tunnelId === frame.tunnelId) {
      joined.at(-1)?.parts.push(frame.payload);
    } else joined.push({ frame, parts: [frame.payload] });
  }
  return joined.map(({ frame, parts }) => ({ ...frame, payload: Buffer.concat(parts) }));
}
