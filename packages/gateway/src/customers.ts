import { createHash, timingSafeEqual } from 'node:crypto';
import { MeadowError } from '@meadow/protocol';
import { parseUsername, type UsernameParams } from './username.ts';

export interface CustomerRecord {
  name: string;
  /** SHA-256 of the API key, hex. The key itself is never stored. */
  apiKeySha256: string;
  disabled?: boolean;
  priceMicrosPerGb?: number;
  quotaBytes?: number | null;
  maxTunnels?: number;
}

export interface Customer {
  name: string;
  quotaBytes: number | null;
  maxTunnels: number;
}

/** Where customers come from: the gateway's CustomerStore (SQLite). */
export interface CustomerDirectory {
  find(name: string): CustomerRecord | undefined;
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
export function authenticate(
  directory: CustomerDirectory,
  username: string,
  password: string,
): { customer: Customer; params: UsernameParams } {
  const customerName = username.split('-')[0] ?? '';
  const record = directory.find(customerName);
  const given = Buffer.from(hashApiKey(password), 'hex');
  const expected = record == null ? NO_KEY : Buffer.from(record.apiKeySha256, 'hex');
  const keyOk = expected.length === given.length && timingSafeEqual(given, expected) && record != null;
  if (!keyOk || record == null) throw new MeadowError('MEADOW_ERR_AUTH_REQUIRED', 'unknown customer or wrong API key');
  if (record.disabled === true)
    throw new MeadowError('MEADOW_ERR_AUTH_REQUIRED', `customer "${record.name}" is disabled`);
  return {
    customer: { name: record.name, quotaBytes: record.quotaBytes ?? null, maxTunnels: record.maxTunnels ?? 256 },
    params: parseUsername(username),
  };
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
