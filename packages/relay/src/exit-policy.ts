import { BlockList, isIP } from 'node:net';

/**
 * The household's exit policy on top of the fixed forbidden ranges: rules like
 * `reject *:25`, `accept 0.0.0.0/0:80,443`, `reject 2001:db8::/32:*`; the first match wins and
 * an address no rule matches is accepted.
 */
export interface ExitRule {
  action: 'accept' | 'reject';
  subnet: { network: string; prefix: number; family: 'ipv4' | 'ipv6' } | 'any';
  ports: Array<[number, number]> | 'any';
  source: string;
}

/** Ports refused by default: mail submission and relay (spam), and Windows/NetBIOS file sharing. */
export const DEFAULT_EXIT_POLICY = [
  'reject *:25',
  'reject *:465',
  'reject *:587',
  'reject *:135-139',
  'reject *:445',
  'accept *:*',
];

export class ExitPolicyError extends Error {
  readonly code = 'MEADOW_ERR_BAD_EXIT_POLICY';
}

export function parseExitRule(source: string): ExitRule {
  const m = /^\s*(accept|reject)\s+(\S+)\s*$/.exec(source);
  if (m == null) throw new ExitPolicyError(`"${source}": expected "accept|reject <address>/<prefix>:<ports>"`);
  const spec = m[2] as string;
  const colon = spec.lastIndexOf(':');
  if (colon <= 0) throw new ExitPolicyError(`"${source}": missing ":<ports>"`);
  const addressPart = spec.slice(0, colon).replace(/^\[([^\]]+)\]/, '$1');
  const portPart = spec.slice(colon + 1);
  return {
    action: m[1] as 'accept' | 'reject',
    subnet: parseSubnet(addressPart, source),
    ports: parsePorts(portPart, source),
    source,
  };
}

function parseSubnet(text: string, source: string): ExitRule['subnet'] {
  if (text === '*') return 'any';
  const [network = '', prefixText] = text.split('/');
  const family = isIP(network);
  if (family === 0) throw new ExitPolicyError(`"${source}": "${network}" is not an IP address`);
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max)
    throw new ExitPolicyError(`"${source}": bad prefix length "${prefixText}"`);
  return { network, prefix, family: family === 4 ? 'ipv4' : 'ipv6' };
}

function parsePorts(text: string, source: string): ExitRule['ports'] {
  if (text === '*') return 'any';
  return text.split(',').map((range) => {
    const [a = '', b] = range.split('-');
    const lo = Number(a);
    const hi = b === undefined ? lo : Number(b);
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi > 65_535 || lo > hi) {
      throw new ExitPolicyError(`"${source}": bad port range "${range}"`);
    }
    return [lo, hi] as [number, number];
  });
}

export class ExitPolicy {
  readonly rules: ExitRule[];
  private readonly matchers: Array<(address: string, family: 'ipv4' | 'ipv6') => boolean>;

  constructor(rules: string[]) {
    this.rules = rules.map(parseExitRule);
    this.matchers = this.rules.map((rule) => {
      if (rule.subnet === 'any') return () => true;
      const list = new BlockList();
      list.addSubnet(rule.subnet.network, rule.subnet.prefix, rule.subnet.family);
      const family = rule.subnet.family;
      return (address, addressFamily) => addressFamily === family && list.check(address, family);
    });
  }

  /** The rule that decides this address and port, or undefined (accepted by default). */
  decide(address: string, port: number): { allowed: boolean; rule?: string } {
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    for (let i = 0; i < this.rules.length; i++) {
      const rule = this.rules[i] as ExitRule;
      const portMatch = rule.ports === 'any' || rule.ports.some(([lo, hi]) => port >= lo && port <= hi);
      if (portMatch && (this.matchers[i] as (a: string, f: 'ipv4' | 'ipv6') => boolean)(address, family)) {
        return { allowed: rule.action === 'accept', rule: rule.source };
      }
    }
    return { allowed: true };
  }

  /** Ports rejected for every address: the summary published in the relay's descriptor. */
  rejectedPorts(): number[] {
    const rejected = new Set<number>();
    const decided = new Set<number>();
    for (const rule of this.rules) {
      if (rule.subnet !== 'any') continue;
      const ranges = rule.ports === 'any' ? [[1, 65_535] as [number, number]] : rule.ports;
      for (const [lo, hi] of ranges) {
        if (hi - lo > 1024) continue;
        for (let p = lo; p <= hi; p++) {
          if (decided.has(p)) continue;
          decided.add(p);
          if (rule.action === 'reject') rejected.add(p);
        }
      }
    }
    return [...rejected].sort((a, b) => a - b);
  }
}
