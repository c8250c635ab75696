import { isIPv4 } from 'node:net';

/** True for a listen address only this machine can reach: 127.0.0.0/8, ::1 or localhost. */
export function addressIsLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === '::1') return true;
  return isIPv4(h) && h.startsWith('127.');
}

/**
 * DNS-rebinding defence for local web servers: true only when the request's Host header names
 * the loopback address or localhost, so a page served for evil.example that re-resolves to
 * 127.0.0.1 cannot talk to the server.
 */
export function hostIsLoopback(hostHeader: string | undefined): boolean {
  const host = (hostHeader ?? '').toLowerCase();
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0];
  return name === '127.0.0.1' || name === 'localhost' || name === '[::1]';
}
