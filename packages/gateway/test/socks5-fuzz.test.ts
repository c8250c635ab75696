import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { Target } from '@meadow/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HandshakeReader,
  readSocksCredentials,
  readSocksRequest,
  type SocksCredentials,
  SocksProtocolError,
} from '../src/socks5.ts';
import { parseUsername } from '../src/username.ts';

/**
 * A reader over a paused socket-like stream that delivers exactly `bytes`, then EOF: in one piece,
 * or cut at `cuts` with a turn of the event loop between pieces, as a slow client sends them. What
 * the gateway writes back is dropped.
 */
function readerOf(bytes: Uint8Array, cuts: number[] = []): HandshakeReader {
  const stream = new Duplex({ read() {}, write: (_c, _e, cb) => cb() });
  const ends = [...new Set(cuts.map((c) => c % (bytes.byteLength + 1)))].sort((a, b) => a - b);
  let from = 0;
  const pushNext = (): void => {
    const to = ends.shift() ?? bytes.byteLength;
    stream.push(Buffer.from(bytes.subarray(from, to)));
    from = to;
    if (from < bytes.byteLength || ends.length > 0) setImmediate(pushNext);
    else stream.push(null);
  };
  pushNext();
  return new HandshakeReader(stream as unknown as Socket, AbortSignal.timeout(1_000));
}

/** What reading gives: a value, or the error's class and message. */
async function outcome<T>(read: Promise<T>): Promise<T | { error: string }> {
  return read.catch((err: Error) => ({ error: `${err.constructor.name}: ${err.message}` }));
}

// Property-based fuzzing of the parsers a crawler's bytes reach first. Bounded runs; any crash or
// hang fails the test, and a counterexample found here is added below as a regression case.
describe('SOCKS5 and username parsers under arbitrary input', () => {
  it('the greeting and RFC 1929 reader either yields credentials or throws SocksProtocolError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), async (bytes) => {
        const result: SocksCredentials | unknown = await readSocksCredentials(readerOf(bytes)).catch(
          (err: unknown) => err,
        );
        if (result instanceof Error) expect(result).toBeInstanceOf(SocksProtocolError);
        else expect(typeof (result as SocksCredentials).username).toBe('string');
      }),
      { numRuns: 400 },
    );
  });

  it('the CONNECT request reader either yields a normalized target or throws SocksProtocolError with a reply code', async () => {
    const request = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      // Mostly well-formed requests with random fields, to get past the first checks.
      fc
        .tuple(fc.constantFrom(1, 3, 4, 9), fc.uint8Array({ maxLength: 270 }), fc.integer({ min: 0, max: 3 }))
        .map(([atyp, rest, cmd]) => Uint8Array.from([5, cmd, 0, atyp, ...rest])),
    );
    await fc.assert(
      fc.asyncProperty(request, async (bytes) => {
        const result: unknown = await readSocksRequest(readerOf(bytes)).catch((err: unknown) => err);
        if (result instanceof Error) {
          expect(result).toBeInstanceOf(SocksProtocolError);
        } else {
          const target = result as Target;
          expect(target.port).toBeGreaterThanOrEqual(0);
          expect(target.host.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 600 },
    );
  });

  it('reads the same whatever pieces the bytes arrive in', async () => {
    const handshake = fc.oneof(
      fc.uint8Array({ maxLength: 80 }),
      fc
        .tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }))
        .map(([user, key]) =>
          Uint8Array.from([
            5,
            1,
            2,
            1,
            user.length,
            ...Buffer.from(user, 'latin1'),
            key.length,
            ...Buffer.from(key, 'latin1'),
          ]),
        ),
    );
    await fc.assert(
      fc.asyncProperty(handshake, fc.array(fc.nat(), { maxLength: 6 }), async (bytes, cuts) => {
        const whole = await outcome(readSocksCredentials(readerOf(bytes)));
        expect(await outcome(readSocksCredentials(readerOf(bytes, cuts)))).toEqual(whole);
      }),
      { numRuns: 300 },
    );
  });

  it('the username grammar either parses or throws a MEADOW_ERR_BAD_USERNAME', () => {
    const piece = fc.constantFrom(
      'acme',
      'country',
      'de',
      'session',
      's1',
      'sesstime',
      '30',
      'strict',
      'zone',
      '',
      'x-y',
    );
    const username = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.array(piece, { maxLength: 9 }).map((p) => p.join('-')),
    );
    fc.assert(
      fc.property(username, (name) => {
        try {
          const parsed = parseUsername(name);
          expect(parsed.customer.length).toBeGreaterThan(0);
        } catch (err) {
          expect((err as { code?: string }).code).toBe('MEADOW_ERR_BAD_USERNAME');
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
