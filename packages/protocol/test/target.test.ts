import { describe, expect, it } from 'vitest';
import { bytesToIpv6, decodeTarget, encodeTarget, ipv6ToBytes, normalizeTarget } from '../src/index.ts';

describe('tunnel target encoding', () => {
  it.each([
    ['93.184.216.34', 80],
    ['2001:db8::1', 443],
    ['::ffff:192.0.2.1', 8080],
    ['example.com', 443],
    ['a-b_c.example', 1],
  ])('round-trips %s:%d', (host, port) => {
    const decoded = decodeTarget(encodeTarget({ host, port }));
    expect(decoded.port).toBe(port);
    expect(Buffer.from(encodeTarget(decoded)).equals(encodeTarget({ host, port }))).toBe(true);
  });

  it('lower-cases hostnames, strips a trailing dot and IPv6 brackets', () => {
    expect(normalizeTarget('Example.COM.', 80)).toEqual({ host: 'example.com', port: 80 });
    expect(normalizeTarget('[::1]', 80)).toEqual({ host: '::1', port: 80 });
  });

  it.each([
    ['example.com', 0, /port/],
    ['example.com', 65_536, /port/],
    ['exa mple.com', 80, /hostname/],
    ['evil.com/path', 80, /hostname/],
    ['', 80, /length/],
    ['x'.repeat(256), 80, /length/],
  ])('refuses %j port %d', (host, port, message) => {
    expect(() => normalizeTarget(host, port)).toThrow(message);
  });

  it('rejects OPEN payloads whose length disagrees with their address type', () => {
    expect(() => decodeTarget(Buffer.from([0, 80, 1, 127, 0, 0]))).toThrow(/IPv4/);
    expect(() => decodeTarget(Buffer.from([0, 80, 3, 5, 0x61]))).toThrow(/hostname length/);
    expect(() => decodeTarget(Buffer.from([0, 80, 9]))).toThrow(/address type/);
    expect(() => decodeTarget(Buffer.from([0, 0, 1, 127, 0, 0, 1]))).toThrow(/port 0/);
    expect(() => decodeTarget(Buffer.from([0, 0, 4, ...new Array(16).fill(0)]))).toThrow(/port 0/);
    expect(decodeTarget(Buffer.from([0x1f, 0x90, 1, 10, 0, 255, 1]))).toEqual({ host: '10.0.255.1', port: 8080 });
  });

  it('converts IPv6 text and bytes both ways, compressing the longest zero run', () => {
    expect(bytesToIpv6(ipv6ToBytes('2001:db8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1');
    expect(bytesToIpv6(ipv6ToBytes('::'))).toBe('::');
    expect(ipv6ToBytes('::ffff:127.0.0.1').toString('hex')).toBe('00000000000000000000ffff7f000001');
  });
});
