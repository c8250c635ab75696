import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalNetwork, patternBytes, startLocalNetwork } from '@meadow/cli';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { curl, httpConnect, runMeadow, socksConnect, waitFor, waitForNoTunnels } from './harness.ts';

const MiB = 1024 * 1024;
const SIZE = 50 * MiB;

let net: LocalNetwork;
let dir: string;
/** Test-owned TCP servers the relays may reach (exact targets), to watch half-close and resets from the far side. */
let echoOnEnd: { server: Server; port: number };
let closesFirst: { server: Server; port: number; received: Promise<number>[] };
let holder: { server: Server; port: number; sockets: Socket[] };
/** An HTTP server whose responses carry X-Meadow- headers of their own. */
let forger: { server: Server; port: number };

async function listen(handler: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    handler(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-integrity-'));
  // Echoes the byte count once the client half-closes, then closes its own side.
  echoOnEnd = await listen((socket) => {
    let count = 0;
    socket.on('data', (c: Buffer) => {
      count += c.byteLength;
    });
    socket.on('end', () => socket.end(`${count}`));
  });
  // Says hello and half-closes at once, then keeps reading what the client sends.
  const received: Promise<number>[] = [];
  closesFirst = {
    ...(await listen((socket) => {
      socket.end('hello');
      received.push(
        new Promise((resolve) => {
          let count = 0;
          socket.on('data', (c: Buffer) => {
            count += c.byteLength;
          });
          socket.on('close', () => resolve(count));
        }),
      );
    })),
    received,
  };
  const sockets: Socket[] = [];
  holder = { ...(await listen((socket) => sockets.push(socket))), sockets };
  forger = await listen((socket) =>
    socket.once('data', () =>
      socket.end(
        'HTTP/1.1 200 OK\r\nX-Meadow-Relay: forged\r\nx-meadow-error: MEADOW_ERR_INTERNAL\r\nX-Site: kept\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok',
      ),
    ),
  );
  net = await startLocalNetwork({
    dir,
    relays: 2,
    extraAllowedTargets: [
      `127.0.0.1:${echoOnEnd.port}`,
      `127.0.0.1:${closesFirst.port}`,
      `127.0.0.1:${holder.port}`,
      `127.0.0.1:${forger.port}`,
    ],
    customers: [{ name: 'small', quotaBytes: 1 * MiB }, { name: 'narrow', maxTunnels: 2 }, { name: 'fenced' }],
  });
  await net.waitForRoutableRelays(2, 60_000);
});

afterAll(async () => {
  await net?.stop();
  for (const s of [echoOnEnd, closesFirst, holder, forger]) s?.server.close();
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  // Whatever a test opened, nothing is left at the gateway or the relays.
  await waitForNoTunnels(net);
});

const demo = () => ({ username: 'demo', password: net.customer.apiKey });
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

type Opener = (host: string, port: number, halfOpen?: boolean) => Promise<Socket>;
const openers: Array<[string, Opener]> = [
  [
    'SOCKS5',
    (host, port, halfOpen) => socksConnect(net.gateway.socks, demo(), host, port, { allowHalfOpen: halfOpen }),
  ],
  [
    'CONNECT',
    (host, port, halfOpen) => httpConnect(net.gateway.http, demo(), `${host}:${port}`, { allowHalfOpen: halfOpen }),
  ],
];

function collect(socket: Socket): Promise<{ data: Buffer; error?: Error }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: Error | undefined;
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (e) => {
      error = e;
    });
    socket.on('close', () => resolve({ data: Buffer.concat(chunks), error }));
  });
}

function split(data: Buffer): { head: string; body: Buffer } {
  const end = data.indexOf('\r\n\r\n');
  return { head: data.subarray(0, end).toString('latin1'), body: data.subarray(end + 4) };
}

describe('50 MiB each way arrive byte-identical', () => {
  const upload = randomBytes(SIZE);
  const expectedDownload = sha(
    Buffer.concat(Array.from({ length: SIZE / (64 * 1024) }, () => patternBytes(0, 64 * 1024))),
  );

  it.each(openers)('over %s', async (_name, open) => {
    const up = await open('127.0.0.1', net.origin.port);
    const upReply = collect(up);
    up.write(`POST /upload HTTP/1.1\r\nHost: origin\r\nContent-Length: ${SIZE}\r\nConnection: close\r\n\r\n`);
    up.write(upload);
    expect(JSON.parse(split((await upReply).data).body.toString()).sha256).toBe(sha(upload));
    const down = await open('127.0.0.1', net.origin.port);
    const downReply = collect(down);
    down.write(`GET /bytes/${SIZE} HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n`);
    expect(sha(split((await downReply).data).body)).toBe(expectedDownload);
  });

  it('over absolute-URI forwarding', async () => {
    const proxyAuthorization = `Basic ${Buffer.from(`demo:${net.customer.apiKey}`).toString('base64')}`;
    const send = (method: string, path: string, body?: Buffer) =>
      new Promise<Buffer>((resolve, reject) => {
        const req = httpRequest({
          host: '127.0.0.1',
          port: net.gateway.http.port,
          method,
          path: `${net.origin.url.replace(/\/$/, '')}${path}`,
          headers: {
            'proxy-authorization': proxyAuthorization,
            ...(body == null ? {} : { 'content-length': body.byteLength }),
          },
          agent: false,
        });
        req.on('error', reject);
        req.on('response', (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks)));
          res.on('error', reject);
        });
        req.end(body);
      });
    expect(JSON.parse((await send('POST', '/upload', upload)).toString()).sha256).toBe(sha(upload));
    expect(sha(await send('GET', `/bytes/${SIZE}`))).toBe(expectedDownload);
  });
});

describe('half-close and reset', () => {
  it.each(openers)('%s: the client half-closes, and the target still answers', async (_name, open) => {
    const socket = await open('127.0.0.1', echoOnEnd.port);
    const reply = collect(socket);
    socket.end(Buffer.alloc(MiB, 3));
    const { data, error } = await reply;
    expect(error).toBeUndefined();
    expect(data.toString()).toBe(String(MiB));
  });

  it.each(openers)('%s: the target half-closes, and the client can still send', async (_name, open) => {
    const socket = await open('127.0.0.1', closesFirst.port, true);
    socket.on('error', () => {});
    const hello: Buffer[] = [];
    socket.on('data', (c: Buffer) => hello.push(c));
    await once(socket, 'end');
    expect(Buffer.concat(hello).toString()).toBe('hello');
    socket.end(Buffer.alloc(MiB, 5));
    await waitFor(() => closesFirst.received.length > 0, 5_000);
    expect(await closesFirst.received.at(-1)).toBe(MiB);
  });

  it.each(openers)('%s: a reset by the target reaches the client as a reset within seconds', async (_name, open) => {
    const before = holder.sockets.length;
    const socket = await open('127.0.0.1', holder.port);
    const outcome = collect(socket);
    await waitFor(() => holder.sockets.length > before, 5_000);
    const started = Date.now();
    holder.sockets.at(-1)?.resetAndDestroy();
    const { error } = await outcome;
    expect((error as NodeJS.ErrnoException | undefined)?.code).toBe('ECONNRESET');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it.each(openers)('%s: a reset by the client closes the target within seconds', async (_name, open) => {
    const before = holder.sockets.length;
    const socket = await open('127.0.0.1', holder.port);
    await waitFor(() => holder.sockets.length > before, 5_000);
    const target = holder.sockets.at(-1) as Socket;
    const closed = new Promise((resolve) => target.once('close', resolve));
    const started = Date.now();
    socket.resetAndDestroy();
    await closed;
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

interface Account {
  customer: string;
  plan: { quotaBytes: number | null };
  usage: { tunnels: number; quotaRemainingBytes: number | null };
  failuresSinceStart: Record<string, number>;
  recentFailures: Array<{ protocol: string; target?: string; code: string; hop: string; message: string }>;
}

/** GET /account on the HTTP proxy port with a customer's own credentials. */
async function accountOf(username: string, apiKey: string): Promise<Account> {
  const res = await fetch(`http://127.0.0.1:${net.gateway.http.port}/account`, {
    headers: { authorization: `Basic ${Buffer.from(`${username}:${apiKey}`).toString('base64')}` },
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toBe('no-store');
  return (await res.json()) as Account;
}

describe('the customer account page', () => {
  it('tells a SOCKS5 crawler why its tunnels failed, and only its own', async () => {
    const demo = { username: 'demo', password: net.customer.apiKey };
    // REP 0x02 is all SOCKS5 can say: the account page has the rest.
    await expect(socksConnect(net.gateway.socks, demo, '127.0.0.1', 1)).rejects.toThrow();
    // A username error looks like a wrong key to a SOCKS5 client (RFC 1929 has one failure status).
    await expect(
      socksConnect(net.gateway.socks, { ...demo, username: 'demo-country-uk' }, '127.0.0.1', net.origin.port),
    ).rejects.toThrow();

    const account = await accountOf('demo-country-de', net.customer.apiKey);
    expect(account.customer).toBe('demo');
    expect(account.recentFailures.slice(0, 2)).toEqual([
      {
        at: expect.any(String),
        protocol: 'socks5',
        code: 'MEADOW_ERR_BAD_USERNAME',
        hop: 'gateway',
        message: 'country "uk" is not an ISO 3166-1 alpha-2 code: the code for United Kingdom is GB',
        gateway: net.gateway.peerId,
      },
      {
        at: expect.any(String),
        protocol: 'socks5',
        target: '127.0.0.1:1',
        code: 'MEADOW_ERR_TARGET_FORBIDDEN',
        hop: 'relay',
        message: expect.stringContaining('loopback'),
        gateway: net.gateway.peerId,
      },
    ]);
    expect(account.failuresSinceStart.MEADOW_ERR_TARGET_FORBIDDEN).toBeGreaterThanOrEqual(1);

    const other = await accountOf('narrow', net.customers.narrow?.apiKey as string);
    expect(
      other.recentFailures.filter((f) => f.target === '127.0.0.1:1' || f.code === 'MEADOW_ERR_BAD_USERNAME'),
    ).toEqual([]);
  });

  it('answers 401 with a Basic challenge to a wrong key, and 405 to anything but GET', async () => {
    const url = `http://127.0.0.1:${net.gateway.http.port}/account`;
    const wrong = await fetch(url, {
      headers: { authorization: `Basic ${Buffer.from('demo:not-the-key').toString('base64')}` },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Basic realm="meadow account"');
    expect(await wrong.text()).not.toContain('recentFailures');
    const post = await fetch(url, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
  });
});

describe('plans', () => {
  it('cuts a tunnel at the byte quota and then answers 402', async () => {
    const socket = await socksConnect(
      net.gateway.socks,
      { username: 'small', password: net.customers.small?.apiKey as string },
      '127.0.0.1',
      net.origin.port,
    );
    const result = collect(socket);
    socket.write(`GET /bytes/${4 * MiB} HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n`);
    const { data, error } = await result;
    expect(data.byteLength).toBeLessThanOrEqual(MiB);
    expect((error as NodeJS.ErrnoException | undefined)?.code).toBe('ECONNRESET');
    const again = await curl([
      '-x',
      `http://127.0.0.1:${net.gateway.http.port}`,
      '--proxy-user',
      `small:${net.customers.small?.apiKey}`,
      net.origin.url,
    ]);
    expect(again.status).toBe(402);
    expect(again.headers).toMatch(
      /proxy-status: meadow; error=proxy_internal_response; details="gateway: the quota of \d+\.\d\d [kMG]?B \(\d+ bytes, both directions\) is used up"/,
    );
  });

  it('shows the customer its quota used up and the refusal, at /account', async () => {
    const account = await accountOf('small', net.customers.small?.apiKey as string);
    expect(account.plan.quotaBytes).toBe(MiB);
    expect(account.usage.quotaRemainingBytes).toBe(0);
    expect(account.recentFailures[0]).toMatchObject({
      protocol: 'http-forward',
      code: 'MEADOW_ERR_QUOTA_EXHAUSTED',
      message: expect.stringContaining('is used up'),
    });
  });

  it('takes a raised quota and a rotated key from `meadow customer` while it runs', async () => {
    const viaSmall = (key: string) =>
      curl(['-x', `http://127.0.0.1:${net.gateway.http.port}`, '--proxy-user', `small:${key}`, net.origin.url]);
    const oldKey = net.customers.small?.apiKey as string;
    expect((await viaSmall(oldKey)).status).toBe(402);
    const raised = await runMeadow([
      'customer',
      'set',
      '--config',
      net.gateway.configPath,
      '--name',
      'small',
      '--quota-gb',
      '1',
    ]);
    expect(raised.stdout).toMatch(/^Customer small: quota 1\.00 GB, /);
    await waitFor(async () => (await viaSmall(oldKey)).status === 200, 5_000, 'the raised quota to apply');

    const rotated = await runMeadow([
      'customer',
      'rotate-key',
      '--config',
      net.gateway.configPath,
      '--name',
      'small',
      '--json',
    ]);
    const { apiKey } = JSON.parse(rotated.stdout) as { apiKey: string };
    await waitFor(async () => (await viaSmall(oldKey)).status === 407, 5_000, 'the old key to stop working');
    expect((await viaSmall(apiKey)).status).toBe(200);
  });

  it('keeps a key to the networks its customer allows, and tells the customer where else it was tried', async () => {
    const key = net.customers.fenced?.apiKey as string;
    const proxy = `http://127.0.0.1:${net.gateway.http.port}`;
    // Two loopback addresses as two machines: the crawler's, and one the key leaked to. Failures
    // count towards the auth throttle of 127.0.0.10 only, not of the 127.0.0.1 other tests use.
    const from = (address: string, args: string[]) => curl(['--interface', address, ...args]);
    const viaHttp = (address: string) => from(address, ['-x', proxy, '--proxy-user', `fenced:${key}`, net.origin.url]);
    const set = await runMeadow([
      'customer',
      'set',
      '--config',
      net.gateway.configPath,
      '--name',
      'fenced',
      '--allow-from',
      '127.0.0.9/32',
    ]);
    expect(set.stdout).toMatch(/key usable from 127\.0\.0\.9\/32 only/);
    await new Promise((resolve) => setTimeout(resolve, 2_500)); // "within two seconds"
    const leaked = await viaHttp('127.0.0.10');
    expect(leaked.status).toBe(407);
    expect(leaked.body).toContain('the API key of "fenced" may not be used from 127.0.0.10');
    expect(leaked.body).not.toContain('127.0.0.9');
    const socks = await from('127.0.0.10', [
      '--socks5-hostname',
      `127.0.0.1:${net.gateway.socks.port}`,
      '--proxy-user',
      `fenced:${key}`,
      net.origin.url,
    ]);
    expect(socks.code).not.toBe(0);
    expect((await viaHttp('127.0.0.9')).status).toBe(200);

    const page = await from('127.0.0.9', ['--user', `fenced:${key}`, `${proxy}/account`]);
    const account = JSON.parse(page.body) as Account & { plan: { allowedClients: string[] | null } };
    expect(account.plan.allowedClients).toEqual(['127.0.0.9/32']);
    expect(account.recentFailures.map((f) => [f.protocol, f.code, f.message])).toEqual([
      ['socks5', 'MEADOW_ERR_AUTH_REQUIRED', expect.stringContaining('may not be used from 127.0.0.10')],
      ['http-forward', 'MEADOW_ERR_AUTH_REQUIRED', expect.stringContaining('may not be used from 127.0.0.10')],
    ]);

    await runMeadow(['customer', 'set', '--config', net.gateway.configPath, '--name', 'fenced', '--allow-from', 'any']);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect((await viaHttp('127.0.0.10')).status).toBe(200);
  });

  it('answers 429 with Retry-After past the concurrency limit', async () => {
    const creds = { username: 'narrow', password: net.customers.narrow?.apiKey as string };
    const open = await Promise.all([
      httpConnect(net.gateway.http, creds, `127.0.0.1:${holder.port}`),
      httpConnect(net.gateway.http, creds, `127.0.0.1:${holder.port}`),
    ]);
    const third = await curl([
      '-p',
      '-x',
      `http://127.0.0.1:${net.gateway.http.port}`,
      '--proxy-user',
      `narrow:${creds.password}`,
      net.origin.url,
    ]);
    expect(third.headers).toMatch(/HTTP\/1\.1 429/);
    expect(third.headers).toMatch(/retry-after: \d+/i);
    for (const s of open) s.destroy();
    // The holder keeps its side open (half-open tunnels are legal): close it too.
    for (const s of holder.sockets) s.destroy();
  });
});

describe('strict HTTP parsing', () => {
  async function raw(request: string): Promise<string> {
    const socket = connect(net.gateway.http.port, '127.0.0.1');
    const reply = collect(socket);
    socket.write(request);
    const { data } = await reply;
    return data.toString('latin1');
  }
  const auth = () => `Proxy-Authorization: Basic ${Buffer.from(`demo:${net.customer.apiKey}`).toString('base64')}\r\n`;
  const target = () => `http://127.0.0.1:${net.origin.port}/upload`;

  it.each([
    [
      'Content-Length with Transfer-Encoding',
      () =>
        `POST ${target()} HTTP/1.1\r\nHost: x\r\n${auth()}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    ],
    [
      'a Transfer-Encoding other than chunked',
      () => `POST ${target()} HTTP/1.1\r\nHost: x\r\n${auth()}Transfer-Encoding: gzip\r\n\r\n`,
    ],
    [
      'duplicate Content-Length',
      () => `POST ${target()} HTTP/1.1\r\nHost: x\r\n${auth()}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`,
    ],
    [
      'an invalid Content-Length',
      () => `POST ${target()} HTTP/1.1\r\nHost: x\r\n${auth()}Content-Length: 3x\r\n\r\nabc`,
    ],
    ['obs-fold', () => `GET ${target()} HTTP/1.1\r\nHost: x\r\n${auth()}X-A: b\r\n c\r\n\r\n`],
    ['a NUL in a header', () => `GET ${target()} HTTP/1.1\r\nHost: x\r\n${auth()}X-A: b\0c\r\n\r\n`],
    ['CONNECT without a port', () => `CONNECT 127.0.0.1 HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth()}\r\n`],
    ['CONNECT to port 0', () => `CONNECT 127.0.0.1:0 HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth()}\r\n`],
  ])('answers 400 and closes for %s', async (_name, build) => {
    const reply = await raw(build());
    expect(reply).toMatch(/^HTTP\/1\.1 400 /);
    expect(reply).toMatch(/proxy-status: meadow; error=http_request_error/i);
  });

  it.each([
    ['a request', (big: string) => `GET ${target()} HTTP/1.1\r\nHost: x\r\n${auth()}X-Big: ${big}\r\n\r\n`],
    ['a CONNECT', (big: string) => `CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: x\r\n${auth()}X-Big: ${big}\r\n\r\n`],
  ])('answers 431 and the limit for %s with a header block over 64 KiB', async (_name, build) => {
    const reply = await raw(build('a'.repeat(70_000)));
    expect(reply).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(reply).toMatch(
      /proxy-status: meadow; error=http_request_error; details="gateway: header block over 64 KiB"/i,
    );
    expect(reply).toMatch(/x-meadow-error: MEADOW_ERR_BAD_REQUEST/i);
  });

  // The gateway reads a CONNECT head that arrives whole in one read itself and leaves every other
  // head to Node's parser: both must tunnel, with the bytes that came along with the head.
  it.each([
    ['in one write, with the request behind it', (head: string, get: string) => [head + get]],
    [
      'in pieces, the head split mid-line',
      (head: string, get: string) => [head.slice(0, 9), head.slice(9, 40), head.slice(40), get],
    ],
    [
      'in two pieces, the request with the end of the head',
      (head: string, get: string) => [head.slice(0, -2), `\r\n${get}`],
    ],
  ])('tunnels a CONNECT head that arrives %s', async (_name, pieces) => {
    const head = `CONNECT 127.0.0.1:${net.origin.port} HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth()}\r\n`;
    const get = 'GET /bytes/3000 HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n';
    const socket = connect(net.gateway.http.port, '127.0.0.1');
    socket.setNoDelay(true);
    const reply = collect(socket);
    for (const piece of pieces(head, get)) {
      socket.write(piece);
      await new Promise((r) => setTimeout(r, 30));
    }
    const { data } = await reply;
    const established = split(data);
    // The 200 says where the tunnel leaves: the relay's peer id and its country.
    expect(established.head).toMatch(
      /^HTTP\/1\.1 200 Connection Established\r\nX-Meadow-Relay: 12D3KooW\w+\r\nX-Meadow-Country: [A-Z]{2}$/,
    );
    const response = split(established.body);
    expect(response.head).toMatch(/^HTTP\/1\.1 200 /);
    expect(response.body.byteLength).toBe(3000);
  });

  it('names the exit on absolute-URI responses, and drops X-Meadow- headers the web site sent', async () => {
    const reply = await raw(
      `GET http://127.0.0.1:${forger.port}/ HTTP/1.1\r\nHost: x\r\n${auth()}Connection: close\r\n\r\n`,
    );
    const head = reply.slice(0, reply.indexOf('\r\n\r\n'));
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(head).toContain('X-Site: kept');
    expect(head).not.toMatch(/forged|MEADOW_ERR_INTERNAL/);
    const relays = [...head.matchAll(/^X-Meadow-Relay: (.*)$/gim)].map((m) => m[1]);
    expect(relays).toHaveLength(1);
    expect(net.relays.map((r) => r.peerId)).toContain(relays[0]);
    expect(head).toMatch(/^X-Meadow-Country: [A-Z]{2}$/m);
    expect(reply.endsWith('\r\n\r\nok')).toBe(true);
  });

  it('sends concurrent first requests of a new session through one relay: one binds it, the rest keep it', async () => {
    const user = `demo-session-burst${Date.now()}:${net.customer.apiKey}`;
    const request = `GET http://127.0.0.1:${net.origin.port}/ HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic ${Buffer.from(user).toString('base64')}\r\nConnection: close\r\n\r\n`;
    // Connected first, then all twelve requests written in one turn: they reach the gateway together.
    const sockets = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const socket = connect(net.gateway.http.port, '127.0.0.1');
        await once(socket, 'connect');
        return socket;
      }),
    );
    const replies = sockets.map((socket) => collect(socket));
    for (const socket of sockets) socket.write(request);
    const texts = (await Promise.all(replies)).map((r) => r.data.toString('latin1'));
    const exits = new Set(
      texts.map((t) => (JSON.parse(t.slice(t.indexOf('\r\n\r\n') + 4)) as { youAre: string }).youAre),
    );
    expect(exits.size).toBe(1);
    const outcomes = texts.map((t) => /^X-Meadow-Session: (\w+)\r$/m.exec(t)?.[1]).sort();
    expect(outcomes).toEqual(['bound', ...Array(11).fill('kept')]);
  });

  it('says a kept-alive tunnel keeps its session: bound on the first response, kept on the next', async () => {
    const socket = connect(net.gateway.http.port, '127.0.0.1');
    const reply = collect(socket);
    const session = `Proxy-Authorization: Basic ${Buffer.from(`demo-session-ka${Date.now()}:${net.customer.apiKey}`).toString('base64')}\r\n`;
    const get = `GET http://127.0.0.1:${net.origin.port}/ HTTP/1.1\r\nHost: x\r\n${session}`;
    socket.write(`${get}\r\n${get}Connection: close\r\n\r\n`);
    const responses = (await reply).data.toString('latin1').split(/(?=HTTP\/1\.1 )/);
    expect(responses).toHaveLength(2);
    expect(responses.map((r) => /^X-Meadow-Session: (\w+)\r$/m.exec(r)?.[1])).toEqual(['bound', 'kept']);
    const relays = responses.map((r) => /^X-Meadow-Relay: (\w+)\r$/m.exec(r)?.[1]);
    expect(relays[1]).toBe(relays[0]);
  });

  it('answers HEAD through absolute-URI forwarding, and the next request on the connection works', async () => {
    const socket = connect(net.gateway.http.port, '127.0.0.1');
    const reply = collect(socket);
    const url = `http://127.0.0.1:${net.origin.port}/bytes/5000`;
    socket.write(
      `HEAD ${url} HTTP/1.1\r\nHost: x\r\n${auth()}\r\nGET ${url} HTTP/1.1\r\nHost: x\r\n${auth()}Connection: close\r\n\r\n`,
    );
    const text = (await reply).data.toString('latin1');
    const [head, second] = text.split(/(?=HTTP\/1\.1 )/);
    expect(head).toMatch(/^HTTP\/1\.1 200 .*content-length: 5000\r\n.*\r\n\r\n$/is);
    expect(second).toMatch(/^HTTP\/1\.1 200 /);
    expect(second?.endsWith(patternBytes(0, 5000).toString('latin1'))).toBe(true);
  });

  it('routes absolute-URI requests by the URL, not the Host header', async () => {
    const reply = await raw(
      `GET http://127.0.0.1:${net.origin.port}/ HTTP/1.1\r\nHost: evil.example\r\n${auth()}Connection: close\r\n\r\n`,
    );
    expect(reply).toMatch(/^HTTP\/1\.1 200 /);
    expect(reply).toContain(`"host":"127.0.0.1:${net.origin.port}"`);
  });
});
