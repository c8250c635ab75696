import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect as connectTcp, createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectTls, createServer as createTlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedCertificate } from '../../../test/services/self-signed.ts';
import { resetSocket } from '../src/index.ts';

let dir: string;
let cert: Buffer;
let key: Buffer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-reset-'));
  const made = await selfSignedCertificate(dir);
  cert = made.cert;
  key = await readFile(made.keyFile);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** What the client saw after the server wrote "hello" and reset: a clean end, or an error. */
async function seenByClient(client: Socket): Promise<{ data: string; end: boolean; error?: string }> {
  const seen = { data: '', end: false, error: undefined as string | undefined };
  client.setEncoding('latin1');
  client.on('data', (d: string) => {
    seen.data += d;
  });
  client.on('end', () => {
    seen.end = true;
  });
  client.on('error', (err: NodeJS.ErrnoException) => {
    seen.error = err.code;
  });
  // Not events.once: it rejects on the 'error' this test waits to see.
  await new Promise((resolve) => client.on('close', resolve));
  return seen;
}

describe('resetSocket', () => {
  it('cuts a plain TCP connection with a reset', async () => {
    const server = createTcpServer((socket) => {
      socket.write('hello', () => setTimeout(() => resetSocket(socket), 50));
    }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = connectTcp((server.address() as { port: number }).port, '127.0.0.1');
    expect(await seenByClient(client)).toEqual({ data: 'hello', end: false, error: 'ECONNRESET' });
    server.close();
  });

  it('cuts a TLS connection with a reset too, which a plain destroy would end cleanly', async () => {
    for (const [cut, expected] of [
      [resetSocket, { data: 'hello', end: false, error: 'ECONNRESET' }],
      [(socket: Socket) => socket.destroy(), { data: 'hello', end: true, error: undefined }],
    ] as const) {
      const server = createTlsServer({ cert, key }, (socket) => {
        socket.write('hello', () => setTimeout(() => cut(socket), 50));
      }).listen(0, '127.0.0.1');
      await once(server, 'listening');
      const client = connectTls({ port: (server.address() as { port: number }).port, host: '127.0.0.1', ca: cert });
      expect(await seenByClient(client)).toEqual(expected);
      server.close();
    }
  });
});
