import { isIP } from 'node:net';

/** Where a tunnel goes: a hostname the relay resolves itself, or a literal IP. */
export interface Target {
  host: string;
  port: number;
}

const ADDR_IPV4 = 1;
const ADDR_DOMAIN = 3;
const ADDR_IPV6 = 4;
const MAX_HOST_BYTES = 255;

export class TargetError extends Error {
  readonly code = 'MEADOW_ERR_BAD_REQUEST';
}

/** Checks port and hostname syntax; returns the target with IPv6 brackets removed and the host lower-cased. */
export function normalizeTarget(host: string, port: number): Target {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new TargetError(`invalid port ${port}`);
  let h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(h) === 0) {
    h = h.toLowerCase();
    if (h.endsWith('.')) h = h.slice(0, -1);
    if (h.length === 0 || Buffer.byteLength(h) > MAX_HOST_BYTES) throw new TargetError('invalid hostname length');
    if (!/^[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$/.test(h)) {
      throw new TargetError(`invalid hostname "${host}"`);
    }
  }
  return { host: h, port };
}

/**
 * OPEN payload: u16 port, u8 address type (1 IPv4, 3 domain, 4 IPv6), then 4 bytes,
 * u8 length + name, or 16 bytes. Mirrors SOCKS5's address encoding.
 */
export function encodeTarget(target: Target): Buffer {
  const family = isIP(target.host);
  if (family === 4) {
    const out = Buffer.allocUnsafe(7);
    out.writeUInt16BE(target.port, 0);
    out[2] = ADDR_IPV4;
    target.host.split('.').forEach((octet, i) => {
      out[3 + i] = Number(octet);
    });
    return out;
  }
  if (family === 6) {
    const out = Buffer.allocUnsafe(19);
    out.writeUInt16BE(target.port, 0);
    out[2] = ADDR_IPV6;
    ipv6ToBytes(target.host).copy(out, 3);
    return out;
  }
  const name = Buffer.from(target.host, 'utf8');
  const out = Buffer.allocUnsafe(4 + name.byteLength);
  out.writeUInt16BE(target.port, 0);
  out[2] = ADDR_DOMAIN;
  out[3] = name.byteLength;
  name.copy(out, 4);
  return out;
}

export function decodeTarget(payload: Uint8Array): Target {
  const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (buf.byteLength < 3) throw new TargetError('tunnel request too short');
  const port = buf.readUInt16BE(0);
  const type = buf[2];
  if (type === ADDR_IPV4) {
    if (buf.byteLength !== 7) throw new TargetError('bad IPv4 tunnel request length');
    if (port === 0) throw new TargetError(`invalid port ${port}`);
    // Four bytes always make a valid dotted quad: no text to check (the relay's busiest parse).
    return { host: `${buf[3]}.${buf[4]}.${buf[5]}.${buf[6]}`, port };
  }
  if (type === ADDR_IPV6) {
    if (buf.byteLength !== 19) throw new TargetError('bad IPv6 tunnel request length');
    return normalizeTarget(bytesToIpv6(buf.subarray(3, 19)), port);
  }
  if (type === ADDR_DOMAIN) {
    const length = buf[3] ?? 0;
    if (buf.byteLength !== 4 + length) throw new TargetError('bad hostname length in tunnel request');
    return normalizeTarget(buf.subarray(4).toString('utf8'), port);
  }
  throw new TargetError(`unknown address type ${type}`);
}

export function ipv6ToBytes(address: string): Buffer {
  let text = address;
  const out = Buffer.alloc(16);
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4 != null) {
    const octets = (v4[1] as string).split('.').map(Number);
    const hi = ((octets[0] as number) << 8) | (octets[1] as number);
    const lo = ((octets[2] as number) << 8) | (octets[3] as number);
    text = `${text.slice(0, v4.index)}${hi.toString(16)}:${lo.toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headParts = head === '' ? [] : head.split(':');
  const tailParts = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? headParts
      : [...headParts, ...new Array(8 - headParts.length - tailParts.length).fill('0'), ...tailParts];
  groups.forEach((group, i) => {
    out.writeUInt16BE(Number.parseInt(group, 16), i * 2);
  });
  return out;
}

export function bytesToIpv6(bytes: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16));
  // Compress the longest run of zero groups (RFC 5952).
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength && j - i > 1) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart === -1) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}

/** "host:port", bracketing IPv6 literals. */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
