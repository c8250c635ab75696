import { isIP } from 'node:net';

/** Why `text` is not an address or network ("203.0.113.7", "203.0.113.0/24", "2001:db8::/32"), or undefined. */
export function clientNetworkProblem(text: string): string | undefined {
  const [address = '', prefix, extra] = text.split('/');
  const family = isIP(address);
  if (family === 0 || extra != null) return `"${text}" is not an IP address or network (e.g. 203.0.113.0/24)`;
  if (prefix == null) return undefined;
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return `"${text}": the prefix length must be 0-${max}`;
  return undefined;
}
