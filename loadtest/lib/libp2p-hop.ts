/**
 * The floor Meadow's transport sets: TCP in, one raw libp2p stream (TCP + Noise + Yamux) per
 * connection to a second process, TCP out. No Meadow framing, no proxy protocol.
 *   node loadtest/lib/libp2p-hop.ts exit <target host> <target port>   → prints {ready, multiaddr}
 *   node loadtest/lib/libp2p-hop.ts entry <exit multiaddr>              → prints {ready, port}
 */
import { connect, createServer, type Socket } from 'node:net';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import type { Stream } from '@libp2p/interface';
import { tcp } from '@libp2p/tcp';
import { meadowNoiseCrypto } from '@meadow/discovery';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';

const PROTOCOL = '/meadow-bench/pipe/1.0.0';
const [mode, ...args] = process.argv.slice(2);

function bridge(stream: Stream, socket: Socket): void {
  stream.addEventListener('message', (evt) => {
    const data = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray();
    if (!socket.write(data)) {
      stream.pause();
      socket.once('drain', () => stream.resume());
    }
  });
  // 'end', not 'remoteCloseWrite': the latter fires as soon as the far side closes, while a paused
  // stream may still hold data it has not handed out; ending the socket then lost that data.
  stream.addEventListener('end', () => socket.end());
  // After a clean close the socket still has to flush what it was given (destroying it cut the last
  // bytes of downloads off); only a failed stream takes the socket down.
  stream.addEventListener('close', (evt) => {
    if (evt.error != null) socket.destroy();
  });
  socket.on('data', (chunk: Buffer) => {
    if (stream.writeStatus !== 'writable') return;
    if (!stream.send(chunk)) {
      socket.pause();
      stream.addEventListener('drain', () => socket.resume(), { once: true });
    }
  });
  socket.on('end', () => void stream.close().catch(() => {}));
  socket.on('error', () => stream.abort(new Error('socket error')));
  // A socket that closed cleanly has already started the stream's graceful close, which is still
  // sending what is queued: aborting it here threw the tail of downloads away.
  socket.on('close', (hadError) => {
    if (hadError && stream.status === 'open') stream.abort(new Error('socket closed'));
  });
}

const node = await createLibp2p({
  addresses: { listen: mode === 'exit' ? ['/ip4/127.0.0.1/tcp/0'] : [] },
  transports: [tcp()],
  // The same transport as Meadow's own nodes (same Noise crypto), so this stays the floor it sets.
  connectionEncrypters: [noise({ crypto: meadowNoiseCrypto })],
  // A paused stream keeps receiving until yamux's window (up to 16 MiB) is used, while libp2p resets
  // a stream whose read buffer passes 4 MiB: bulk downloads through this baseline were cut off
  // (223 981 514 of 268 435 456 bytes) whenever the client read slower than the origin sent.
  streamMuxers: [yamux({ streamOptions: { maxReadBufferLength: 32 * 1024 * 1024 } })],
  connectionManager: { maxConnections: 64 },
});

if (mode === 'exit') {
  const [host, port] = args;
  await node.handle(
    PROTOCOL,
    (stream) => {
      const socket = connect({ host, port: Number(port), noDelay: true });
      bridge(stream, socket);
    },
    { maxInboundStreams: 100_000 },
  );
  process.stdout.write(`${JSON.stringify({ ready: true, multiaddr: node.getMultiaddrs()[0]?.toString() })}\n`);
} else {
  const exit = multiaddr(args[0] as string);
  await node.dial(exit);
  const server = createServer({ noDelay: true }, (socket) => {
    socket.pause();
    node.dialProtocol(exit, PROTOCOL, { maxOutboundStreams: 100_000 }).then(
      (stream) => {
        bridge(stream, socket);
        socket.resume();
      },
      () => socket.destroy(),
    );
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ ready: true, port: (server.address() as { port: number }).port })}\n`);
  });
}
process.on('SIGTERM', () => {
  void Promise.resolve(node.stop()).finally(() => process.exit(0));
});
