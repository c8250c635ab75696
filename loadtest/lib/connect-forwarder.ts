/**
 * A minimal Node HTTP CONNECT proxy hop, the yardstick for a proxy's handshake without libp2p:
 *   node loadtest/lib/connect-forwarder.ts                        the far hop: connects to the
 *                                                                 CONNECT's authority, answers 200
 *   node loadtest/lib/connect-forwarder.ts <next host> <next port> the near hop: passes the head to
 *                                                                 the far hop, then copies bytes
 * Chained, near and far have gateway + relay's topology and handshake: the client's `200` comes
 * back only after the far hop's connect to the target, as Meadow's does. No credentials, no policy.
 * Listens on 127.0.0.1 (a free port, printed as JSON).
 */
import { connect, createServer, type Socket } from 'node:net';
import { joinSockets } from './join-sockets.ts';
import { readHead } from './read-head.ts';

const [nextHost, nextPort] = process.argv.slice(2);
const ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n');
const BAD_GATEWAY = Buffer.from('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');

/** The far hop: connect to the authority of `CONNECT host:port HTTP/1.1`. */
function connectToAuthority(client: Socket, head: Buffer, behind: Buffer): void {
  const authority = /^CONNECT (\S+):(\d+) HTTP\/1\.[01]\r\n/.exec(head.toString('latin1'));
  if (authority == null) return void client.end(BAD_GATEWAY);
  const target = connect({ host: authority[1], port: Number(authority[2]), noDelay: true });
  target.once('error', () => client.end(BAD_GATEWAY));
  target.once('connect', () => {
    target.removeAllListeners('error');
    // A client gone while the target answered would leave the target open: joinSockets never hears
    // a close that has already happened.
    if (client.destroyed) return void target.destroy();
    client.write(ESTABLISHED);
    if (behind.byteLength > 0) target.write(behind);
    joinSockets(client, target);
    client.resume();
  });
}

/** The near hop: the head goes on to the far hop, whose answer is copied back like any byte. */
function passToNextHop(client: Socket, head: Buffer, behind: Buffer): void {
  const next = connect({ host: nextHost, port: Number(nextPort), noDelay: true });
  next.write(behind.byteLength > 0 ? Buffer.concat([head, behind]) : head);
  joinSockets(client, next);
  client.resume();
}

const server = createServer({ noDelay: true }, (client) => {
  client.on('error', () => client.destroy());
  readHead(
    client,
    nextHost == null ? (h, b) => connectToAuthority(client, h, b) : (h, b) => passToNextHop(client, h, b),
  );
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true, port: (server.address() as { port: number }).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
