import { once } from 'node:events';
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import { bytesToIpv6, ipv6ToBytes, MeadowError, normalizeTarget, type Target } from '@meadow/protocol';

/** SOCKS5 (RFC 1928) with username/password authentication (RFC 1929). CONNECT only. */
export const SOCKS_VERSION = 0x05;
const AUTH_VERSION = 0x01;
const METHOD_USERPASS = 0x02;
const METHOD_NONE_ACCEPTABLE = 0xff;
const CMD_CONNECT = 0x01;
const ATYP_IPV4 = 0x01;
const ATYP_DOMAIN = 0x03;
const ATYP_IPV6 = 0x04;

export const SocksReply = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
} as const;

export class SocksProtocolError extends Error {
  readonly code = 'MEADOW_ERR_BAD_REQUEST';
  /** REP to send before closing, if the exchange got that far. */
  readonly reply: number | undefined;
  constructor(message: string, reply?: number) {
    super(message);
    this.reply = reply;
  }
}

/** Reads exactly `n` bytes from a paused socket, or throws if it ends first. */
export async function readExactly(socket: Socket, n: number, signal: AbortSignal): Promise<Buffer> {
  // read(0) never returns data: with bytes buffered it only re-emits 'readable', so a zero length
  // (0 methods, an empty username or password) spun here forever and froze the whole gateway.
  if (n === 0) return Buffer.alloc(0);
  for (;;) {
    const chunk = socket.read(n) as Buffer | null;
    if (chunk != null) {
      if (chunk.byteLength < n) throw new SocksProtocolError('connection closed mid-message');
      return chunk;
    }
    if (socket.readableEnded || socket.destroyed) throw new SocksProtocolError('connection closed mid-message');
    // The wait that loses the race is cancelled, so no listener is left behind per read.
    const settled = new AbortController();
    const either = AbortSignal.any([signal, settled.signal]);
    try {
      await Promise.race([once(socket, 'readable', { signal: either }), once(socket, 'close', { signal: either })]);
    } finally {
      settled.abort();
    }
  }
}

export interface SocksCredentials {
  username: string;
  password: string;
}

/** Greeting and RFC 1929 sub-negotiation. Returns the credentials; the caller answers with `sendAuthResult`. */
export async function readSocksCredentials(socket: Socket, signal: AbortSignal): Promise<SocksCredentials> {
  const [version, methodCount] = await readExactly(socket, 2, signal);
  if (version !== SOCKS_VERSION) throw new SocksProtocolError(`unsupported SOCKS version ${version}`);
  const methods = await readExactly(socket, methodCount as number, signal);
  if (!methods.includes(METHOD_USERPASS)) {
    socket.write(Buffer.from([SOCKS_VERSION, METHOD_NONE_ACCEPTABLE]));
    throw new SocksProtocolError('client offered no username/password authentication');
  }
  socket.write(Buffer.from([SOCKS_VERSION, METHOD_USERPASS]));
  const [authVersion, usernameLength] = await readExactly(socket, 2, signal);
  if (authVersion !== AUTH_VERSION) throw new SocksProtocolError(`unsupported auth version ${authVersion}`);
  const username = (await readExactly(socket, usernameLength as number, signal)).toString('utf8');
  const [passwordLength] = await readExactly(socket, 1, signal);
  const password = (await readExactly(socket, passwordLength as number, signal)).toString('utf8');
  return { username, password };
}

export function sendAuthResult(socket: Socket, ok: boolean): void {
  socket.write(Buffer.from([AUTH_VERSION, ok ? 0x00 : 0x01]));
}

/** Reads the CONNECT request; unsupported commands and address types throw with their REP code. */
export async function readSocksRequest(socket: Socket, signal: AbortSignal): Promise<Target> {
  const [version, command, , addressType] = await readExactly(socket, 4, signal);
  if (version !== SOCKS_VERSION)
    throw new SocksProtocolError(`bad request version ${version}`, SocksReply.GENERAL_FAILURE);
  let host: string;
  if (addressType === ATYP_IPV4) {
    host = Array.from(await readExactly(socket, 4, signal)).join('.');
  } else if (addressType === ATYP_IPV6) {
    host = bytesToIpv6(await readExactly(socket, 16, signal));
  } else if (addressType === ATYP_DOMAIN) {
    const [length] = await readExactly(socket, 1, signal);
    if (length === 0) throw new SocksProtocolError('empty domain name', SocksReply.GENERAL_FAILURE);
    host = (await readExactly(socket, length as number, signal)).toString('utf8');
  } else {
    throw new SocksProtocolError(`unsupported address type ${addressType}`, SocksReply.ADDRESS_TYPE_NOT_SUPPORTED);
  }
  const port = (await readExactly(socket, 2, signal)).readUInt16BE(0);
  if (command !== CMD_CONNECT)
    throw new SocksProtocolError(`unsupported command ${command} (CONNECT only)`, SocksReply.COMMAND_NOT_SUPPORTED);
  try {
    return normalizeTarget(host, port);
  } catch (err) {
    throw new SocksProtocolError((err as Error).message, SocksReply.GENERAL_FAILURE);
  }
}

/** REP with BND.ADDR/BND.PORT: the relay's egress address when known, else 0.0.0.0:0. */
export function sendSocksReply(socket: Socket, reply: number, bound?: { address: string; port: number }): void {
  let out: Buffer;
  if (bound != null && isIP(bound.address) === 6) {
    out = Buffer.concat([
      Buffer.from([SOCKS_VERSION, reply, 0x00, ATYP_IPV6]),
      ipv6ToBytes(bound.address),
      Buffer.alloc(2),
    ]);
  } else {
    out = Buffer.from([SOCKS_VERSION, reply, 0x00, ATYP_IPV4, 0, 0, 0, 0, 0, 0]);
    if (bound != null && isIP(bound.address) === 4) Buffer.from(bound.address.split('.').map(Number)).copy(out, 4);
  }
  if (bound != null) out.writeUInt16BE(bound.port, out.byteLength - 2);
  if (!socket.destroyed && socket.writable) socket.write(out);
}

export function socksReplyFor(err: unknown): number {
  if (err instanceof MeadowError) return err.wire.socksReply;
  if (err instanceof SocksProtocolError && err.reply != null) return err.reply;
  return SocksReply.GENERAL_FAILURE;
}
