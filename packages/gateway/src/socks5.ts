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

/**
 * Reads a SOCKS handshake from a paused socket, exactly the bytes each step needs. One 'readable',
 * one 'end' and one 'close' listener serve the whole handshake: re-adding a 'readable' listener
 * while fewer bytes than a step needs are buffered makes the stream emit 'readable' again at once,
 * so a listener per wait spun without end on a client that sent part of a message (one byte froze
 * the gateway), as `read(0)` did on a zero-length field.
 */
export class HandshakeReader {
  readonly socket: Socket;
  private readonly signal: AbortSignal;
  private wake: (() => void) | undefined;
  private readonly onEvent = (): void => {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  };

  constructor(socket: Socket, signal: AbortSignal) {
    this.socket = socket;
    this.signal = signal;
    socket.on('readable', this.onEvent);
    // A client's FIN with no bytes left to read ends the stream without another 'readable' (and,
    // the socket being half-open, without 'close'): without this the reader waited out its deadline.
    socket.on('end', this.onEvent);
    socket.on('close', this.onEvent);
  }

  /** Exactly `n` bytes; throws if the connection ends first or the signal aborts. */
  async read(n: number): Promise<Buffer> {
    if (n === 0) return Buffer.alloc(0); // read(0) never returns data
    for (;;) {
      const chunk = this.socket.read(n) as Buffer | null;
      if (chunk != null) {
        if (chunk.byteLength < n) throw new SocksProtocolError('connection closed mid-message');
        return chunk;
      }
      if (this.socket.readableEnded || this.socket.destroyed)
        throw new SocksProtocolError('connection closed mid-message');
      await this.nextEvent();
    }
  }

  /** Detaches from the socket; bytes the client sent beyond the handshake stay buffered in it. */
  release(): void {
    this.socket.removeListener('readable', this.onEvent);
    this.socket.removeListener('end', this.onEvent);
    this.socket.removeListener('close', this.onEvent);
  }

  private nextEvent(): Promise<void> {
    this.signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      const abort = (): void => {
        this.wake = undefined;
        reject(this.signal.reason);
      };
      this.signal.addEventListener('abort', abort, { once: true });
      this.wake = () => {
        this.signal.removeEventListener('abort', abort);
        resolve();
      };
    });
  }
}

export interface SocksCredentials {
  username: string;
  password: string;
}

/** Greeting and RFC 1929 sub-negotiation. Returns the credentials; the caller answers with `sendAuthResult`. */
export async function readSocksCredentials(reader: HandshakeReader): Promise<SocksCredentials> {
  const socket = reader.socket;
  const [version, methodCount] = await reader.read(2);
  if (version !== SOCKS_VERSION) throw new SocksProtocolError(`unsupported SOCKS version ${version}`);
  const methods = await reader.read(methodCount as number);
  if (!methods.includes(METHOD_USERPASS)) {
    socket.write(Buffer.from([SOCKS_VERSION, METHOD_NONE_ACCEPTABLE]));
    throw new SocksProtocolError('client offered no username/password authentication');
  }
  socket.write(Buffer.from([SOCKS_VERSION, METHOD_USERPASS]));
  const [authVersion, usernameLength] = await reader.read(2);
  if (authVersion !== AUTH_VERSION) throw new SocksProtocolError(`unsupported auth version ${authVersion}`);
  const username = (await reader.read(usernameLength as number)).toString('utf8');
  const [passwordLength] = await reader.read(1);
  const password = (await reader.read(passwordLength as number)).toString('utf8');
  return { username, password };
}

export function sendAuthResult(socket: Socket, ok: boolean): void {
  socket.write(Buffer.from([AUTH_VERSION, ok ? 0x00 : 0x01]));
}

/** Reads the CONNECT request; unsupported commands and address types throw with their REP code. */
export async function readSocksRequest(reader: HandshakeReader): Promise<Target> {
  const [version, command, , addressType] = await reader.read(4);
  if (version !== SOCKS_VERSION)
    throw new SocksProtocolError(`bad request version ${version}`, SocksReply.GENERAL_FAILURE);
  let host: string;
  if (addressType === ATYP_IPV4) {
    host = Array.from(await reader.read(4)).join('.');
  } else if (addressType === ATYP_IPV6) {
    host = bytesToIpv6(await reader.read(16));
  } else if (addressType === ATYP_DOMAIN) {
    const [length] = await reader.read(1);
    if (length === 0) throw new SocksProtocolError('empty domain name', SocksReply.GENERAL_FAILURE);
    host = (await reader.read(length as number)).toString('utf8');
  } else {
    throw new SocksProtocolError(`unsupported address type ${addressType}`, SocksReply.ADDRESS_TYPE_NOT_SUPPORTED);
  }
  const port = (await reader.read(2)).readUInt16BE(0);
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
