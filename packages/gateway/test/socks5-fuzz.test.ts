import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { Target } from '@meadow/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readSocksCredentials, readSocksRequest, type SocksCredentials, SocksProtocolError } from '../src/socks5.ts';
import { parseUsername } from '../src/username.ts';

/** A paused socket-like stream holding exactly `bytes`, then EOF; what the gateway writes back is dropped. */
function fakeSocket(bytes: Uint8Array): Socket {
  const stream = new Duplex({ read() {}, write: (_c, _e, cb) => cb() });
  stream.push(Buffer.from(bytes));
  stream.push(null);
  return stream as unknown as Socket;
}

// Property-based fuzzing of the parsers a crawler's bytes reach first. Bounded runs; any crash or
// hang fails the test, and a counterexample found here is added below as a regression case.
describe('SOCKS5 and username parsers under arbitrary input', () => {
  it('the greeting and RFC 1929 reader either yields credentials or throws SocksProtocolError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), async (bytes) => {
        const result: SocksCredentials | unknown = await readSocksCredentials(
          fakeSocket(bytes),
          AbortSignal.timeout(1_000),
        ).catch((err: unknown) => err);
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
        const result: unknown = await readSocksRequest(fakeSocket(bytes), AbortSignal.timeout(1_000)).catch(
          (err: unknown) => err,
        );
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
