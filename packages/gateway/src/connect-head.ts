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

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const METHOD = Buffer.from('CONNECT ', 'latin1');
// Names, IPv4 and bracketed IPv6 with a port; Node's parser refuses some other visible characters.
const REQUEST_LINE = /^CONNECT ([A-Za-z0-9._:[\]-]+) HTTP\/1\.[01]$/;
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[\t ]*([\t -~]*?)[\t ]*$/;

export interface ConnectHead {
  /** The request target, `host:port` as the client wrote it. */
  authority: string;
  proxyAuthorization: string | undefined;
  /** Where the bytes after the head start in the chunk. */
  bodyStart: number;
}

/** A complete, plainly well-formed CONNECT head at the start of `chunk`, or undefined. */
export function parseConnectHead(chunk: Buffer): ConnectHead | undefined {
  if (chunk.byteLength < METHOD.byteLength || chunk.compare(METHOD, 0, METHOD.byteLength, 0, METHOD.byteLength) !== 0)
    return undefined;
  const end = chunk.indexOf(HEAD_END);
  if (end < 0 || end > MAX_FAST_HEAD_BYTES) return undefined;
  const lines = chunk.toString('latin1', 0, end).split('\r\n');
  if (lines.length - 1 > MAX_FAST_HEADERS) return undefined;
  const request = REQUEST_LINE.exec(lines[0] as string);
  if (request == null) return undefined;
  let proxyAuthorization: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const header = HEADER_LINE.exec(lines[i] as string);
    if (header == null) return undefined;
    const name = (header[1] as string).toLowerCase();
    if (name === 'proxy-authorization') {
      if (proxyAuthorization != null) return undefined;
      proxyAuthorization = header[2] as string;
    } else if (name === 'content-length' || name === 'transfer-encoding') {
      return undefined;
    }
  }
  return { authority: request[1] as string, proxyAuthorization, bodyStart: end + HEAD_END.byteLength };
}
