/**
 * A minimal Node TCP pass-through, the baseline a proxy hop is measured against:
 *   node loadtest/lib/tcp-forwarder.ts <target host> <target port>
 * Listens on 127.0.0.1 (a free port, printed as JSON) and forwards every connection to the target.
 */
import { connect, createServer } from 'node:net';
import { joinSockets } from './join-sockets.ts';

const [host, port] = process.argv.slice(2);

const server = createServer({ noDelay: true }, (client) => {
  const upstream = connect({ host, port: Number(port), noDelay: true });
  joinSockets(client, upstream);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true, port: (server.address() as { port: number }).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
