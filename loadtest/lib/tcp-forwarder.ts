/**
 * A minimal Node TCP pass-through, the baseline a proxy hop is measured against:
 *   node loadtest/lib/tcp-forwarder.ts <target host> <target port>
 * Listens on 127.0.0.1 (a free port, printed as JSON) and forwards every connection to the target.
 */
import { connect, createServer, type Socket } from 'node:net';

const [host, port] = process.argv.slice(2);

function join(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const destroy = (): void => {
    a.destroy();
    b.destroy();
  };
  a.on('error', destroy);
  b.on('error', destroy);
  a.on('close', destroy);
  b.on('close', destroy);
}

const server = createServer({ noDelay: true }, (client) => {
  const upstream = connect({ host, port: Number(port), noDelay: true });
  join(client, upstream);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true, port: (server.address() as { port: number }).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
