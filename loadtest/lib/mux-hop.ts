/**
 * Meadow's tunnel transport with nothing of the product around it: TCP in, a tunnel in Meadow's
 * framing (TunnelMux, the same bridge) over one long-lived libp2p stream to a second process, TCP
 * out to a fixed target. No proxy protocol, no credentials, plans, metering, metrics or household
 * controls: what gateway + relay cost per tunnel above this is the product's set-up work, and what
 * this costs above the two-hop pass-through is the transport's.
 *   node loadtest/lib/mux-hop.ts exit                                        → prints {ready, multiaddr}
 *   node loadtest/lib/mux-hop.ts entry <exit multiaddr> <target host> <target port> [connect] → prints {ready, port}
 * With `connect`, the entry speaks HTTP CONNECT as the gateway does (the head read, `200` once the
 * tunnel is up; the authority and any credentials are ignored): the handshake's own cost.
 */
import { createServer, type Socket } from 'node:net';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { tcp } from '@libp2p/tcp';
import { meadowNoiseCrypto } from '@meadow/discovery';
import { bridge, streamLink, TunnelMux } from '@meadow/protocol';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { connectingAcceptor } from '../../packages/protocol/test/helpers.ts';
import { readHead } from './read-head.ts';

const PROTOCOL = '/meadow-bench/mux/1.0.0';
const ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n');
const [mode, ...args] = process.argv.slice(2);

// The transport Meadow's own nodes use (same Noise crypto, yamux defaults).
const node = await createLibp2p({
  addresses: { listen: mode === 'exit' ? ['/ip4/127.0.0.1/tcp/0'] : [] },
  transports: [tcp()],
  connectionEncrypters: [noise({ crypto: meadowNoiseCrypto })],
  streamMuxers: [yamux()],
});

if (mode === 'exit') {
  // Each OPEN connects to its target for real and is bridged, as a relay does without its policies.
  await node.handle(PROTOCOL, (stream) => {
    new TunnelMux(streamLink(stream), { onOpen: connectingAcceptor() });
  });
  process.stdout.write(`${JSON.stringify({ ready: true, multiaddr: node.getMultiaddrs()[0]?.toString() })}\n`);
} else {
  const [exitAddr, host, port, handshake] = args as [string, string, string, string | undefined];
  const stream = await node.dialProtocol(multiaddr(exitAddr), PROTOCOL);
  const mux = new TunnelMux(streamLink(stream));
  const target = { host, port: Number(port) };
  const carry = (socket: Socket, reply?: Buffer, behind?: Buffer): void => {
    mux.open(target).then(
      (tunnel) => {
        if (socket.destroyed) return void tunnel.destroy();
        if (reply != null) socket.write(reply);
        if (behind != null && behind.byteLength > 0) tunnel.write(behind);
        void bridge(socket, tunnel);
        if (reply != null) socket.resume(); // paused while the CONNECT head was read
      },
      () => socket.resetAndDestroy(),
    );
  };
  const server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    if (handshake !== 'connect') return carry(socket);
    // A client that half-closes before its head is done would otherwise hold a half-open socket.
    const onEnd = (): void => void socket.destroy();
    socket.once('end', onEnd);
    readHead(socket, (_head, behind) => {
      socket.removeListener('end', onEnd);
      carry(socket, ESTABLISHED, behind);
    });
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ ready: true, port: (server.address() as { port: number }).port })}\n`);
  });
}
process.on('SIGTERM', () => {
  void Promise.resolve(node.stop()).finally(() => process.exit(0));
});
