import { execFile } from 'node:child_process';
import { getEventListeners, once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { HandshakeReader, readSocksCredentials, readSocksRequest, SocksReply, sendAuthResult } from '../src/socks5.ts';

let cleanup: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanup) c();
  cleanup = [];
});

/** A real loopback socket pair: the server side paused, as the gateway's SOCKS listener has it. */
async function pair(): Promise<{ client: Socket; server: Socket }> {
  const listener = createServer({ pauseOnConnect: true, allowHalfOpen: true });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = once(listener, 'connection') as Promise<[Socket]>;
  const client = connect((listener.address() as AddressInfo).port, '127.0.0.1');
  const [server] = await accepted;
  cleanup.push(() => {
    client.destroy();
    server.destroy();
    listener.close();
  });
  return { client, server };
}

describe('SOCKS5 handshake', () => {
  it('reads RFC 1929 credentials and a CONNECT to a domain name', async () => {
    const { client, server } = await pair();
    const replies: Buffer[] = [];
    client.on('data', (c: Buffer) => replies.push(c));
    client.write(Buffer.from([5, 2, 0, 2]));
    client.write(Buffer.from([1, 4, ...Buffer.from('acme'), 3, ...Buffer.from('key')]));
    const reader = new HandshakeReader(server, AbortSignal.timeout(2_000));
    expect(await readSocksCredentials(reader)).toEqual({ username: 'acme', password: 'key' });
    sendAuthResult(server, true);
    client.write(Buffer.from([5, 1, 0, 3, 11, ...Buffer.from('example.com'), 0x01, 0xbb]));
    expect(await readSocksRequest(reader)).toEqual({ host: 'example.com', port: 443 });
    await new Promise((r) => setTimeout(r, 20));
    expect(Buffer.concat(replies)).toEqual(Buffer.from([5, 2, 1, 0]));
  });

  it('hands the bytes a client sent behind its request back to the socket, all of them, in order', async () => {
    const { client, server } = await pair();
    // A client that does not wait for the replies: the whole handshake and 1 MiB of payload at once.
    const payload = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < payload.byteLength; i++) payload[i] = (i * 7) & 0xff;
    client.write(
      Buffer.concat([
        Buffer.from([5, 1, 2, 1, 4, ...Buffer.from('acme'), 3, ...Buffer.from('key')]),
        Buffer.from([5, 1, 0, 1, 10, 0, 0, 1, 0, 80]),
        payload,
      ]),
    );
    const reader = new HandshakeReader(server, AbortSignal.timeout(2_000));
    expect(await readSocksCredentials(reader)).toEqual({ username: 'acme', password: 'key' });
    expect(await readSocksRequest(reader)).toEqual({ host: '10.0.0.1', port: 80 });
    reader.release();
    expect(server.listenerCount('readable')).toBe(0);
    await new Promise((r) => setTimeout(r, 20)); // nothing may flow away while nobody listens
    const received: Buffer[] = [];
    let length = 0;
    server.on('data', (c: Buffer) => {
      received.push(c);
      length += c.byteLength;
    });
    while (length < payload.byteLength) await new Promise((r) => setTimeout(r, 5));
    expect(Buffer.concat(received).equals(payload)).toBe(true);
  });

  it('reads IPv4 and IPv6 address types', async () => {
    const { client, server } = await pair();
    client.write(Buffer.from([5, 1, 0, 1, 93, 184, 216, 34, 0, 80]));
    expect(await readSocksRequest(new HandshakeReader(server, AbortSignal.timeout(2_000)))).toEqual({
      host: '93.184.216.34',
      port: 80,
    });
    client.write(Buffer.from([5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1, 0, 80]));
    expect(await readSocksRequest(new HandshakeReader(server, AbortSignal.timeout(2_000)))).toEqual({
      host: '2001:db8::1',
      port: 80,
    });
  });

  it('answers a client that offers no username/password method with 0xFF', async () => {
    const { client, server } = await pair();
    client.write(Buffer.from([5, 1, 0]));
    const reply = once(client, 'data');
    await expect(readSocksCredentials(new HandshakeReader(server, AbortSignal.timeout(2_000)))).rejects.toThrow(
      /no username\/password/,
    );
    expect((await reply)[0]).toEqual(Buffer.from([5, 0xff]));
  });

  it.each([
    ['BIND', [5, 2, 0, 1, 1, 2, 3, 4, 0, 80], SocksReply.COMMAND_NOT_SUPPORTED],
    ['UDP ASSOCIATE', [5, 3, 0, 1, 1, 2, 3, 4, 0, 80], SocksReply.COMMAND_NOT_SUPPORTED],
    ['address type 9', [5, 1, 0, 9, 1, 2], SocksReply.ADDRESS_TYPE_NOT_SUPPORTED],
  ])('refuses %s with its REP code', async (_name, bytes, reply) => {
    const { client, server } = await pair();
    client.write(Buffer.from(bytes));
    await expect(readSocksRequest(new HandshakeReader(server, AbortSignal.timeout(2_000)))).rejects.toMatchObject({
      reply,
    });
  });

  it('takes zero-length fields and messages cut short without spinning (both froze the gateway)', async () => {
    // Run in a child: a spin never yields to timers, so it would hang this worker instead of failing.
    // Each case's pieces arrive 50 ms apart; the first piece of the last three is part of a message.
    const script = `
      import { Duplex } from 'node:stream';
      import { HandshakeReader, readSocksCredentials } from ${JSON.stringify(new URL('../src/socks5.ts', import.meta.url).href)};
      const cases = [
        [[5, 0, 1, 2]], [[5, 1, 2, 1, 0, 1, 65, 7]], [[5, 1, 2, 1, 1, 65, 0, 7]],
        [[5], [1, 2, 1, 1, 65, 1, 66]], [[5, 1, 2, 1, 3, 65], [66, 67, 1, 68]], [[5, 1, 2, 1]],
      ];
      const alive = setInterval(() => {}, 1000); // AbortSignal.timeout alone does not keep a process up
      for (const pieces of cases) {
        const socket = new Duplex({ read() {}, write: (_c, _e, cb) => cb() });
        pieces.forEach((piece, i) => setTimeout(() => socket.push(Buffer.from(piece)), 50 * i));
        const reader = new HandshakeReader(socket, AbortSignal.timeout(300));
        const result = await readSocksCredentials(reader).catch((err) => (err.name === 'TimeoutError' ? err.name : err.message));
        console.log(JSON.stringify(result));
      }
      clearInterval(alive);`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      timeout: 10_000,
    });
    expect(
      stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual([
      'client offered no username/password authentication',
      { username: '', password: 'A' },
      { username: 'A', password: '' },
      { username: 'A', password: 'B' },
      { username: 'ABC', password: 'D' },
      'TimeoutError',
    ]);
  });

  it.each([
    ['a stream', false],
    ['a real socket', true],
  ])('gives up at once when %s ends mid-message (found by the fuzz test)', async (_name, real) => {
    let socket: Socket;
    let end: () => void;
    if (real) {
      const { client, server } = await pair();
      client.write(Buffer.from([5, 1]));
      [socket, end] = [server, () => client.end()];
    } else {
      // The counterexample: the bytes in one piece, the end in a later turn of the event loop.
      const stream = new Duplex({ read() {}, write: (_c, _e, cb) => cb() });
      stream.push(Buffer.from([5, 1]));
      [socket, end] = [stream as unknown as Socket, () => stream.push(null)];
    }
    const handshake = readSocksCredentials(new HandshakeReader(socket, AbortSignal.timeout(5_000)));
    await new Promise((r) => setTimeout(r, 20));
    end();
    const started = performance.now();
    await expect(handshake).rejects.toThrow('connection closed mid-message');
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('refuses SOCKS4 at once', async () => {
    const { client, server } = await pair();
    client.write(Buffer.from([4, 1, 0, 80, 1, 2, 3, 4, 0]));
    await expect(readSocksCredentials(new HandshakeReader(server, AbortSignal.timeout(2_000)))).rejects.toThrow(
      /version 4/,
    );
  });

  it('gives up on a client that stalls mid-handshake when the deadline passes, leaving no listener', async () => {
    const { client, server } = await pair();
    const before = { readable: server.listenerCount('readable'), close: server.listenerCount('close') };
    client.write(Buffer.from([5, 1]));
    const signal = AbortSignal.timeout(200);
    const reader = new HandshakeReader(server, signal);
    await expect(readSocksCredentials(reader)).rejects.toThrow(/timeout/i);
    reader.release();
    expect({ readable: server.listenerCount('readable'), close: server.listenerCount('close') }).toEqual(before);
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });

  it('waits for bytes arriving one at a time without leaving a listener per wait', async () => {
    const { client, server } = await pair();
    const before = { readable: server.listenerCount('readable'), close: server.listenerCount('close') };
    const signal = AbortSignal.timeout(5_000);
    const reader = new HandshakeReader(server, signal);
    const handshake = readSocksCredentials(reader);
    const most = { readable: 0, abort: 0 };
    for (const byte of [5, 1, 2, 1, 4, ...Buffer.from('acme'), 3, ...Buffer.from('key')]) {
      client.write(Buffer.from([byte]));
      await new Promise((r) => setTimeout(r, 2));
      most.readable = Math.max(most.readable, server.listenerCount('readable'));
      most.abort = Math.max(most.abort, getEventListeners(signal, 'abort').length);
    }
    expect(await handshake).toEqual({ username: 'acme', password: 'key' });
    expect(most).toEqual({ readable: before.readable + 1, abort: 1 });
    reader.release();
    expect({ readable: server.listenerCount('readable'), close: server.listenerCount('close') }).toEqual(before);
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });
});
