import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { readSocksCredentials, readSocksRequest, SocksReply, sendAuthResult } from '../src/socks5.ts';

let cleanup: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanup) c();
  cleanup = [];
});

/** A real loopback socket pair: the server side paused, as the gateway's SOCKS listener has it. */
async function pair(): Promise<{ client: Socket; server: Socket }> {
  const listener = createServer({ pauseOnConnect: true });
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
    const signal = AbortSignal.timeout(2_000);
    expect(await readSocksCredentials(server, signal)).toEqual({ username: 'acme', password: 'key' });
    sendAuthResult(server, true);
    client.write(Buffer.from([5, 1, 0, 3, 11, ...Buffer.from('example.com'), 0x01, 0xbb]));
    expect(await readSocksRequest(server, signal)).toEqual({ host: 'example.com', port: 443 });
    await new Promise((r) => setTimeout(r, 20));
    expect(Buffer.concat(replies)).toEqual(Buffer.from([5, 2, 1, 0]));
  });

  it('reads IPv4 and IPv6 address types', async () => {
    const { client, server } = await pair();
    client.write(Buffer.from([5, 1, 0, 1, 93, 184, 216, 34, 0, 80]));
    expect(await readSocksRequest(server, AbortSignal.timeout(2_000))).toEqual({ host: '93.184.216.34', port: 80 });
    client.write(Buffer.from([5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1, 0, 80]));
    expect(await readSocksRequest(server, AbortSignal.timeout(2_000))).toEqual({ host: '2001:db8::1', port: 80 });
  });

  it('answers a client that offers no username/password method with 0xFF', async () => {
    const { client, server } = await pair();
    client.write(Buffer.from([5, 1, 0]));
    const reply = once(client, 'data');
    await expect(readSocksCredentials(server, AbortSignal.timeout(2_000))).rejects.toThrow(/no username\/password/);
    expect((await reply)[0]).toEqual(Buffer.from([5, 0xff]));
  });

  it.each([
    ['BIND', [5, 2, 0, 1, 1, 2, 3, 4, 0, 80], SocksReply.COMMAND_NOT_SUPPORTED],
    ['UDP ASSOCIATE', [5, 3, 0, 1, 1, 2, 3, 4, 0, 80], SocksReply.COMMAND_NOT_SUPPORTED],
    ['address type 9', [5, 1, 0, 9, 1, 2], SocksReply.ADDRESS_TYPE_NOT_SUPPORTED],
  ])('refuses %s with its REP code', async (_name, bytes, reply) => {
    const { client, server } = await pair();
    client.write(Buffer.from(bytes));
    await expect(readSocksRequest(server, AbortSignal.timeout(2_000))).rejects.toMatchObject({ reply });
  });

  it('takes zero-length fields with more bytes behind them without spinning (it froze the gateway)', async () => {
    // Run in a child: a spin never yields to timers, so it would hang this worker instead of failing.
    const script = `
      import { Duplex } from 'node:stream';
      import { readSocksCredentials } from ${JSON.stringify(new URL('../src/socks5.ts', import.meta.url).href)};
      const cases = [[5, 0, 1, 2], [5, 1, 2, 1, 0, 1, 65, 7], [5, 1, 2, 1, 1, 65, 0, 7]];
      for (const bytes of cases) {
        const socket = new Duplex({ read() {}, write: (_c, _e, cb) => cb() });
        socket.push(Buffer.from(bytes));
        const result = await readSocksCredentials(socket, AbortSignal.timeout(2000)).catch((err) => err.message);
        console.log(JSON.stringify(result));
      }`;
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
    ]);
  });

  it('refuses SOCKS4 at once', async () => {
    const { client, server } = await pair();
    client.write(Buffer.from([4, 1, 0, 80, 1, 2, 3, 4, 0]));
    await expect(readSocksCredentials(server, AbortSignal.timeout(2_000))).rejects.toThrow(/version 4/);
  });

  it('gives up on a client that stalls mid-handshake when the deadline passes', async () => {
    const { client, server } = await pair();
    client.write(Buffer.from([5, 1]));
    await expect(readSocksCredentials(server, AbortSignal.timeout(200))).rejects.toThrow();
  });
});
