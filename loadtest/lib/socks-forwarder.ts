/**
 * A minimal Node SOCKS5 proxy hop in front of a connect-forwarder far hop, the yardstick for a
 * SOCKS5 handshake without libp2p:
 *   node loadtest/lib/socks-forwarder.ts <far hop host> <far hop port>
 * It speaks SOCKS5 with username/password authentication (RFC 1928, RFC 1929; any credentials are
 * accepted) and CONNECT, asks the far hop for the target with an HTTP CONNECT, and answers success
 * only once the far hop has answered `200`, as the gateway answers after the relay's OK.
 * Listens on 127.0.0.1 (a free port, printed as JSON).
 */
import { connect, createServer, type Socket } from 'node:net';
import { joinSockets } from './join-sockets.ts';
import { readHead } from './read-head.ts';

const [farHost, farPort] = process.argv.slice(2);
const SUCCEEDED = Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
const FAILED = Buffer.from([5, 1, 0, 1, 0, 0, 0, 0, 0, 0]);

/**
 * The length of the complete handshake message at the front of `buf`, or undefined while more bytes
 * are needed; `stage` says which message is expected.
 */
function messageLength(stage: 'greeting' | 'auth' | 'request', buf: Buffer): number | undefined {
  if (stage === 'greeting')
    return buf.length >= 2 && buf.length >= 2 + (buf[1] as number) ? 2 + (buf[1] as number) : undefined;
  if (stage === 'auth') {
    if (buf.length < 2) return undefined;
    const passwordAt = 2 + (buf[1] as number);
    return buf.length > passwordAt && buf.length >= passwordAt + 1 + (buf[passwordAt] as number)
      ? passwordAt + 1 + (buf[passwordAt] as number)
      : undefined;
  }
  if (buf.length < 5) return undefined;
  const addressLength = buf[3] === 1 ? 4 : buf[3] === 4 ? 16 : 1 + (buf[4] as number);
  return buf.length >= 4 + addressLength + 2 ? 4 + addressLength + 2 : undefined;
}

/** `host:port` of a CONNECT request message. */
function authorityOf(request: Buffer): string {
  const type = request[3];
  const port = request.readUInt16BE(request.length - 2);
  if (type === 1) return `${[...request.subarray(4, 8)].join('.')}:${port}`;
  if (type === 4) {
    const groups = Array.from({ length: 8 }, (_, i) => request.readUInt16BE(4 + 2 * i).toString(16));
    return `[${groups.join(':')}]:${port}`;
  }
  return `${request.subarray(5, 5 + (request[4] as number)).toString('latin1')}:${port}`;
}

/** Asks the far hop for `authority`; calls `then` with the socket once it answered 200. */
function openThroughFarHop(authority: string, then: (far: Socket | undefined, behind: Buffer) => void): void {
  const far = connect({ host: farHost, port: Number(farPort), noDelay: true });
  // Before the answer, an error or a close is a failure; after it, joinSockets handles both.
  const fail = (): void => {
    stopReading();
    far.removeListener('error', fail);
    far.removeListener('close', fail);
    far.on('error', () => {});
    far.destroy();
    then(undefined, Buffer.alloc(0));
  };
  const stopReading = readHead(far, (answer, behind) => {
    if (answer.subarray(0, 12).toString('latin1') !== 'HTTP/1.1 200') return void fail();
    far.removeListener('error', fail);
    far.removeListener('close', fail);
    then(far, behind);
  });
  far.once('error', fail);
  far.once('close', fail);
  far.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
}

const server = createServer({ noDelay: true }, (client) => {
  let stage: 'greeting' | 'auth' | 'request' = 'greeting';
  let buf: Buffer = Buffer.alloc(0);
  client.on('error', () => client.destroy());
  const onData = (chunk: Buffer): void => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    for (let length = messageLength(stage, buf); length != null; length = messageLength(stage, buf)) {
      const message = buf.subarray(0, length);
      buf = buf.subarray(length);
      if (stage === 'greeting') {
        const offersPassword = message.subarray(2).includes(2);
        client.write(Buffer.from([5, offersPassword ? 2 : 0xff]));
        if (!offersPassword) return void client.end();
        stage = 'auth';
      } else if (stage === 'auth') {
        client.write(Buffer.from([1, 0]));
        stage = 'request';
      } else {
        client.removeListener('data', onData);
        client.pause();
        const early = buf;
        openThroughFarHop(authorityOf(message), (far, behind) => {
          if (far == null || client.destroyed) {
            far?.destroy();
            return void client.end(FAILED);
          }
          client.write(behind.length > 0 ? Buffer.concat([SUCCEEDED, behind]) : SUCCEEDED);
          if (early.length > 0) far.write(early);
          joinSockets(client, far);
          client.resume();
          far.resume();
        });
        return;
      }
    }
  };
  client.on('data', onData);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true, port: (server.address() as { port: number }).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
