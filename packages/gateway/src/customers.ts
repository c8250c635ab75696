import { createHash, timingSafeEqual } from 'node:crypto';
import { MeadowError } from '@meadow/protocol';
import { parseUsername, type UsernameParams } from './username.ts';

export interface CustomerRecord {
  name: string;
  /** SHA-256 of the API key, hex. The key itself is never stored. */
  apiKeySha256: string;
  disabled?: boolean;
}

export interface Customer {
  name: string;
}

/** Where customers come from; config today, the SQLite customer store once it lands. */
export interface CustomerDirectory {
  find(name: string): CustomerRecord | undefined;
}

export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey, 'utf8').digest('hex');
}

export class StaticCustomerDirectory implements CustomerDirectory {
  private readonly byName: Map<string, CustomerRecord>;

  constructor(records: CustomerRecord[]) {
    this.byName = new Map(records.map((r) => [r.name.toLowerCase(), r]));
  }

  find(name: string): CustomerRecord | undefined {
    return this.byName.get(name.toLowerCase());
  }
}

/**
 * Checks proxy credentials: the username names the customer and its routing parameters, the
 * password is the API key. Compares hashes of the full key in constant time.
 */
export function authenticate(
  directory: CustomerDirectory,
  username: string,
  password: string,
): { customer: Customer; params: UsernameParams } {
  const customerName = username.split('-')[0] ?? '';
  const record = directory.find(customerName);
  const given = Buffer.from(hashApiKey(password), 'hex');
  const expected = Buffer.from(record?.apiKeySha256 ?? '0'.repeat(64), 'hex');
  const keyOk = expected.length === given.length && timingSafeEqual(given, expected);
  if (record == null || !keyOk || record.disabled === true) {
    throw new MeadowError('MEADOW_ERR_AUTH_REQUIRED', 'unknown customer or wrong API key');
  }
  return { customer: { name: record.name }, params: parseUsername(username) };
}
