import { createHash, timingSafeEqual } from 'node:crypto';
import { MeadowError } from '@meadow/protocol';
import { ClientNetworks } from './client-networks.ts';
import { parseUsername, type UsernameParams } from './username.ts';

export interface CustomerRecord {
  name: string;
  /** SHA-256 of the API key, hex. The key itself is never stored. */
  apiKeySha256: string;
  disabled?: boolean;
  priceMicrosPerGb?: number;
  quotaBytes?: number | null;
  maxTunnels?: number;
  /** Networks the API key may be used from; null or absent = anywhere. */
  allowedClients?: string[] | null;
}

export interface Customer {
  name: string;
  quotaBytes: number | null;
  maxTunnels: number;
  /** Where the key may be used from; null = anywhere. */
  clients: ClientNetworks | null;
}

/** Where customers come from: the gateway's CustomerBook (SQLite, or PostgreSQL shared by several gateways). */
export interface CustomerDirectory {
  find(name: string): CustomerRecord | undefined;
}

/** A customer whose credentials were checked, and the parameters their username carried. */
export interface Principal {
  customer: Customer;
  params: UsernameParams;
}

export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey, 'utf8').digest('hex');
}

const NO_KEY = Buffer.alloc(32);

/**
 * Checks proxy credentials: the username names the customer and its routing parameters, the
 * password is the API key. Compares SHA-256 hashes of the full key in constant time, and does
 * the same work for unknown customers as for known ones.
 */
export function authenticate(directory: CustomerDirectory, username: string, password: string): Principal {
  const customerName = username.split('-')[0] ?? '';
  const record = directory.find(customerName);
  const given = Buffer.from(hashApiKey(password), 'hex');
  const expected = record == null ? NO_KEY : Buffer.from(record.apiKeySha256, 'hex');
  const keyOk = expected.length === given.length && timingSafeEqual(given, expected) && record != null;
  if (!keyOk || record == null) throw new MeadowError('MEADOW_ERR_AUTH_REQUIRED', 'unknown customer or wrong API key');
  if (record.disabled === true)
    throw new MeadowError('MEADOW_ERR_AUTH_REQUIRED', `customer "${record.name}" is disabled`);
  return {
    customer: {
      name: record.name,
      quotaBytes: record.quotaBytes ?? null,
      maxTunnels: record.maxTunnels ?? 256,
      clients: record.allowedClients == null ? null : new ClientNetworks(record.allowedClients),
    },
    params: parseUsername(username),
  };
}

/** Proxy credentials from a `Basic` header (`Proxy-Authorization`, or `Authorization` for /account). */
export function parseBasicCredentials(header: string | undefined): { username: string; password: string } {
  if (header == null) throw new MeadowError('MEADOW_ERR_AUTH_REQUIRED', 'Proxy-Authorization is missing');
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (m == null) throw new MeadowError('MEADOW_ERR_AUTH_REQUIRED', 'Proxy-Authorization must be Basic');
  const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new MeadowError('MEADOW_ERR_AUTH_REQUIRED', 'Proxy-Authorization has no password');
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * Credentials that authenticated within the last `ttlMs`, with what they authenticated as. A
 * crawler opens hundreds of tunnels a second with one key, and hashing it for each cost ~3% of
 * the gateway's CPU. Only an exact (username, password) pair that passed is kept, never a
 * failure, so a wrong key always takes the full constant-time check; a disabled customer or a
 * changed key takes effect within `ttlMs`, as with the customer store's own cache.
 */
export class VerifiedCredentials {
  private readonly entries = new Map<string, { principal: Principal; at: number }>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;

  constructor(ttlMs = 1_000, maxEntries = 4_096) {
    this.ttlMs = ttlMs;
    this.maxEntries = maxEntries;
  }

  get(username: string, password: string, now = Date.now()): Principal | undefined {
    const key = `${username}\0${password}`;
    const entry = this.entries.get(key);
    if (entry == null) return undefined;
    if (now - entry.at < this.ttlMs) return entry.principal;
    this.entries.delete(key);
    return undefined;
  }

  remember(username: string, password: string, principal: Principal, now = Date.now()): void {
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(`${username}\0${password}`, { principal, at: now });
  }
}

/**
 * Limits failed authentications per source address: after `maxFailures` within `windowMs`,
 * further attempts from that address are refused without checking until the window passes.
 */
export class AuthThrottle {
  private readonly failures = new Map<string, { count: number; since: number }>();
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private nextSweepAt = 0;

  constructor(maxFailures = 20, windowMs = 60_000) {
    this.maxFailures = maxFailures;
    this.windowMs = windowMs;
  }

  /**
   * Whether any address has failed within the window. Reading a socket's peer address is a system
   * call, so callers look it up (and call `check`) only while this is true.
   */
  watching(now = Date.now()): boolean {
    if (this.failures.size === 0) return false;
    if (now >= this.nextSweepAt) {
      this.nextSweepAt = now + 1_000;
      for (const [key, e] of this.failures) if (now - e.since >= this.windowMs) this.failures.delete(key);
    }
    return this.failures.size > 0;
  }

  check(address: string, now = Date.now()): void {
    const entry = this.failures.get(address);
    if (entry == null) return;
    if (now - entry.since >= this.windowMs) {
      this.failures.delete(address);
      return;
    }
    if (entry.count >= this.maxFailures) {
      throw new MeadowError(
        'MEADOW_ERR_AUTH_THROTTLED',
        `too many failed authentications from ${address}; retry in ${Math.ceil((entry.since + this.windowMs - now) / 1000)} s`,
      );
    }
  }

  fail(address: string, now = Date.now()): void {
    const entry = this.failures.get(address);
    if (entry == null || now - entry.since >= this.windowMs) this.failures.set(address, { count: 1, since: now });
    else entry.count++;
    if (this.failures.size > 100_000) {
      for (const [key, e] of this.failures) if (now - e.since >= this.windowMs) this.failures.delete(key);
    }
  }
}
