import { countryCodeProblem, MeadowError } from '@meadow/protocol';

/**
 * Proxy username grammar (docs/username.md):
 *   <customer>[-country-<cc>][-session-<id>][-sesstime-<minutes>][-strict]
 */
export interface UsernameParams {
  customer: string;
  country?: string;
  session?: string;
  sessionTtlMinutes: number;
  strict: boolean;
}

export const DEFAULT_SESSION_TTL_MINUTES = 10;
export const MAX_SESSION_TTL_MINUTES = 1440;
const CUSTOMER = /^[a-z0-9_]{1,64}$/i;
const SESSION = /^[A-Za-z0-9_]{1,64}$/;

function bad(message: string): never {
  throw new MeadowError('MEADOW_ERR_BAD_USERNAME', message);
}

export function parseUsername(username: string): UsernameParams {
  const parts = username.split('-');
  const customer = parts.shift() ?? '';
  if (!CUSTOMER.test(customer)) bad('customer name must be 1-64 letters, digits or underscores');
  const params: UsernameParams = { customer, sessionTtlMinutes: DEFAULT_SESSION_TTL_MINUTES, strict: false };
  const seen = new Set<string>();
  let sesstimeGiven = false;
  while (parts.length > 0) {
    const key = (parts.shift() as string).toLowerCase();
    if (seen.has(key)) bad(`"${key}" given twice`);
    seen.add(key);
    if (key === 'strict') {
      params.strict = true;
      continue;
    }
    const value = parts.shift();
    if (value === undefined || value === '') bad(`"${key}" needs a value`);
    switch (key) {
      case 'country': {
        const problem = countryCodeProblem(value);
        if (problem != null) bad(`country ${problem}`);
        params.country = value.toUpperCase();
        break;
      }
      case 'session':
        if (!SESSION.test(value)) bad('session id must be 1-64 letters, digits or underscores');
        params.session = value;
        break;
      case 'sesstime': {
        const minutes = Number(value);
        if (!/^\d+$/.test(value) || minutes < 1 || minutes > MAX_SESSION_TTL_MINUTES) {
          bad(`sesstime must be whole minutes from 1 to ${MAX_SESSION_TTL_MINUTES}, got "${value}"`);
        }
        params.sessionTtlMinutes = minutes;
        sesstimeGiven = true;
        break;
      }
      default:
        bad(`unknown username parameter "${key}" (known: country, session, sesstime, strict)`);
    }
  }
  if (sesstimeGiven && params.session == null) bad('sesstime needs a session');
  if (params.strict && params.session == null) bad('strict needs a session');
  return params;
}
