/**
 * The common CONNECT request, read without Node's HTTP server: a crawler opens a connection, sends
 * one CONNECT head in one write, and the connection becomes a tunnel. Node's server costs about
 * 35 µs of CPU per connection for that (a parser, an IncomingMessage, a dozen socket listeners set
 * up and torn down), a tenth of what the gateway spends on a whole tunnel.
 *
 * The grammar here is deliberately narrower than RFC 9112: anything it does not accept as plainly
 * well-formed (another method, a head split over reads, obs-fold, bare LF, bytes outside visible
 * ASCII, a body header, a repeated Proxy-Authorization) is answered `undefined`, and the caller
 * hands the connection to Node's server, which accepts or rejects it as it always did. So this
 * never accepts a request Node's parser would refuse.
 */

/** A head longer than this is left to Node (its limit, 64 KiB, is checked there). */
export const MAX_FAST_HEAD_BYTES = 16 * 1024;
const MAX_FAST_HEADERS = 64;

const METHOD = 'CONNECT ';
const VERSION = 'HTTP/1.';
const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

function byteSet(chars: string, ranges: Array<[number, number]> = []): Uint8Array {
  const set = new Uint8Array(256);
  for (const c of chars) set[c.charCodeAt(0)] = 1;
  for (const [from, to] of ranges) set.fill(1, from, to + 1);
  return set;
}
const DIGITS_LETTERS: Array<[number, number]> = [
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x61, 0x7a],
];
/** Names, IPv4 and bracketed IPv6 with a port; Node's parser refuses some other visible characters. */
const AUTHORITY = byteSet('._:[]-', DIGITS_LETTERS);
/** RFC 9110 tchar. */
const TOKEN = byteSet("!#$%&'*+.^_`|~-", DIGITS_LETTERS);
/** Visible ASCII, space and tab. */
const VALUE = byteSet('\t', [[0x20, 0x7e]]);

export interface ConnectHead {
  /** The request target, `host:port` as the client wrote it. */
  authority: string;
  proxyAuthorization: string | undefined;
  /** Where the bytes after the head start in the chunk. */
  bodyStart: number;
}

/**
 * A complete, plainly well-formed CONNECT head at the start of `chunk`, or undefined. One pass over
 * the bytes with lookup tables, and strings made only of the three values kept.
 */
export function parseConnectHead(chunk: Buffer): ConnectHead | undefined {
  const n = Math.min(chunk.byteLength, MAX_FAST_HEAD_BYTES);
  if (n < METHOD.length) return undefined;
  for (let i = 0; i < METHOD.length; i++) if (chunk[i] !== METHOD.charCodeAt(i)) return undefined;
  // Every scan below stops at a byte outside its set, and reading past the end gives undefined,
  // which is in none: the checks for CR LF after each line then fail.
  let p = METHOD.length;
  while (AUTHORITY[chunk[p] as number] === 1) p++;
  if (p === METHOD.length || chunk[p] !== SP) return undefined;
  const authorityEnd = p++;
  for (let i = 0; i < VERSION.length; i++) if (chunk[p++] !== VERSION.charCodeAt(i)) return undefined;
  if (chunk[p] !== 0x30 && chunk[p] !== 0x31) return undefined;
  p++;
  let headers = 0;
  let proxyAuthorization: string | undefined;
  for (;;) {
    if (p + 1 >= n || chunk[p] !== CR || chunk[p + 1] !== LF) return undefined;
    p += 2;
    if (chunk[p] === CR) {
      if (p + 1 >= n || chunk[p + 1] !== LF) return undefined;
      break;
    }
    if (++headers > MAX_FAST_HEADERS) return undefined;
    const nameStart = p;
    while (TOKEN[chunk[p] as number] === 1) p++;
    if (p === nameStart || chunk[p] !== COLON) return undefined;
    const nameEnd = p++;
    while (chunk[p] === SP || chunk[p] === HTAB) p++;
    const valueStart = p;
    while (VALUE[chunk[p] as number] === 1) p++;
    let valueEnd = p;
    while (valueEnd > valueStart && (chunk[valueEnd - 1] === SP || chunk[valueEnd - 1] === HTAB)) valueEnd--;
    const nameLength = nameEnd - nameStart;
    if (nameLength !== 19 && nameLength !== 14 && nameLength !== 17) continue;
    const name = chunk.toString('latin1', nameStart, nameEnd).toLowerCase();
    if (name === 'proxy-authorization') {
      if (proxyAuthorization != null) return undefined;
      proxyAuthorization = chunk.toString('latin1', valueStart, valueEnd);
    } else if (name === 'content-length' || name === 'transfer-encoding') {
      return undefined;
    }
  }
  return { authority: chunk.toString('latin1', METHOD.length, authorityEnd), proxyAuthorization, bodyStart: p + 2 };
}
