import { once } from 'node:events';
import type { Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { isMeadowError } from '@meadow/protocol';
import fc from 'fast-check';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Connector } from '../src/connector.ts';
import { CustomerStore } from '../src/customer-store.ts';
import { parseBasicCredentials } from '../src/customers.ts';
import { createHttpProxy, parseAuthority } from '../src/http-proxy.ts';
import { MeteringGuard } from '../src/metering-guard.ts';
import { createGatewayMetrics } from '../src/metrics.ts';
import { RelayPool } from '../src/relay-pool.ts';
import { StickySessions } from '../src/sessions.ts';
import { TunnelService } from '../src/tunnel-service.ts';

// Property-based fuzzing of the HTTP proxy front: the two parsers of ours, and the whole server
// (Node's HTTP parser plus our handlers) fed arbitrary and mutated requests over real sockets.
// Every input must get an HTTP error or a close within the handshake timeout: no crash, no hang.

describe('HTTP proxy parsers under arbitrary input', () => {
  it('Proxy-Authorization: credentials or MEADOW_ERR_AUTH_REQUIRED, and well-formed ones round-trip', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.constant(undefined)), (header) => {
        try {
          const creds = parseBasicCredentials(header);
          expect(typeof creds.username).toBe('string');
        } catch (err) {
          expect(isMeadowError(err) && err.code).toBe('MEADOW_ERR_AUTH_REQUIRED');
        }
      }),
      { numRuns: 2_000 },
    );
    fc.assert(
      fc.property(
        fc.string({ maxLength: 60 }).filter((u) => !u.includes(':')),
        fc.string({ maxLength: 60 }),
        (u, p) => {
          const header = `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
          expect(parseBasicCredentials(header)).toEqual({ username: u, password: p });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('CONNECT authority: a normalized target or MEADOW_ERR_BAD_REQUEST', () => {
    const authority = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc
        .tuple(
          fc.oneof(
            fc.domain(),
            fc.ipV4(),
            fc.ipV6().map((a) => `[${a}]`),
          ),
          fc.integer({ min: -5, max: 70_000 }),
        )
        .map(([h, p]) => `${h}:${p}`),
    );
    fc.assert(
      fc.property(authority, (text) => {
        try {
          const target = parseAuthority(text);
          expect(target.port).toBeGreaterThan(0);
          expect(target.port).toBeLessThan(65_536);
        } catch (err) {
          expect(isMeadowError(err) && err.code).toBe('MEADOW_ERR_BAD_REQUEST');
        }
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('the HTTP proxy server under arbitrary requests', () => {
  let server: Server;
  let port: number;
  let store: CustomerStore;

  beforeAll(async () => {
    const logger = pino({ level: 'silent' });
    const metrics = createGatewayMetrics(new Registry());
    store = new CustomerStore(':memory:');
    store.upsert({ name: 'acme', apiKeySha256: 'a'.repeat(64) });
    const connector = new Connector(
      { connectTimeoutMs: 500, maxAttempts: 1 },
      { pool: new RelayPool(), sessions: new StickySessions(), metrics, logger },
    );
    const guard = new MeteringGuard({ logger, metrics: metrics.metering });
    const service = new TunnelService({ store, connector, metrics, logger, guard });
    server = createHttpProxy(service, { handshakeTimeoutMs: 1_000, idleTimeoutMs: 1_000 });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    store.close();
  });

  /** Sends raw bytes; resolves with what came back once the server closes or 3 s pass. */
  function exchange(bytes: Uint8Array): Promise<{ reply: string; closed: boolean }> {
    return new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let reply = '';
      const timer = setTimeout(() => {
        socket.destroy();
        resolve({ reply, closed: false });
      }, 3_000);
      socket.setEncoding('latin1');
      socket.on('data', (c: string) => {
        reply += c;
        // An error response is complete once its body arrived; the server may keep the socket for keep-alive.
        if (/^HTTP\/1\.1 [45]\d\d /.test(reply) && reply.includes('\r\n\r\n')) {
          clearTimeout(timer);
          socket.destroy();
          resolve({ reply, closed: true });
        }
      });
      socket.on('error', () => {});
      socket.on('close', () => {
        clearTimeout(timer);
        resolve({ reply, closed: true });
      });
      socket.write(bytes);
    });
  }

  it('answers an unfinished request head with 408 and the reason within the handshake timeout', async () => {
    // Regression (fuzzing): Node checked headersTimeout only every 30 s, so this hung that long.
    const started = performance.now();
    const { reply, closed } = await exchange(Buffer.from('GET http://example.com/ HTTP/1.1\r\n'));
    expect(closed).toBe(true);
    expect(reply).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(reply).toMatch(/request head not finished within 1000 ms/);
    expect(performance.now() - started).toBeLessThan(2_500);
  });

  it.each([
    ['sends nothing', undefined],
    ['starts its head just before the deadline', 'GET http://example.com/ HTTP/1.1\r\n'],
    ['starts a CONNECT head just before the deadline', 'CONNECT example.com:443 HTTP/1.1\r\n'],
  ])('counts the head deadline from accept for a client that %s', async (_name, late) => {
    // The gateway reads the first bytes itself and may then hand the connection to Node's server,
    // whose own timer would start only then: the deadline must still be one, from accept.
    const started = performance.now();
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    let reply = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => {
      reply += c;
    });
    if (late != null) setTimeout(() => socket.write(late), 950);
    await once(socket, 'close');
    expect(reply).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(reply).toMatch(/request head not finished within 1000 ms/);
    // The sweep runs every 500 ms; a deadline restarted at the late bytes would end after 1 950 ms.
    expect(performance.now() - started).toBeLessThan(1_850);
  });

  it('answers every request head with an HTTP error or a close, within the handshake timeout', async () => {
    const token = fc.stringMatching(/^[!-~]{0,20}$/);
    const head = fc
      .record({
        method: fc.oneof(fc.constantFrom('GET', 'CONNECT', 'POST', 'HEAD', 'OPTIONS'), token),
        target: fc.oneof(
          fc.constantFrom('http://example.com/', 'example.com:443', '/', '*', 'http://[::1]:80/', 'http://10.0.0.1/'),
          token,
        ),
        version: fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 ', ''),
        headers: fc.array(fc.tuple(token, fc.string({ maxLength: 40 })), { maxLength: 6 }),
        auth: fc.constantFrom(
          undefined,
          `Basic ${Buffer.from('acme:wrong').toString('base64')}`,
          'Basic !!!',
          'Bearer x',
        ),
        end: fc.constantFrom('\r\n\r\n', '\n\n', '\r\n', ''),
      })
      .map(({ method, target, version, headers, auth, end }) => {
        const lines = [`${method} ${target} ${version}`, ...headers.map(([k, v]) => `${k}: ${v}`)];
        if (auth != null) lines.push(`Proxy-Authorization: ${auth}`);
        return Buffer.from(lines.join('\r\n') + end, 'latin1');
      });
    const input = fc.oneof(head, fc.uint8Array({ minLength: 1, maxLength: 400 }));
    await fc.assert(
      fc.asyncProperty(input, async (bytes) => {
        const { reply, closed } = await exchange(bytes);
        expect(closed, `no answer and no close for ${JSON.stringify(Buffer.from(bytes).toString('latin1'))}`).toBe(
          true,
        );
        if (reply !== '') expect(reply).toMatch(/^HTTP\/1\.1 (4\d\d|5\d\d) /);
      }),
      { numRuns: 150 },
    );
    // Still serving after all that.
    expect(
      (await exchange(Buffer.from('GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n'))).reply,
    ).toMatch(/^HTTP\/1\.1 407 /);
  }, 120_000);
});
