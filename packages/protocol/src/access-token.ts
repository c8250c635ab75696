import { createHash, timingSafeEqual } from 'node:crypto';

/** The challenge a server sends with 401, so a browser asks for the token as a password. */
export function tokenChallenge(realm: string): string {
  return `Basic realm="${realm}", charset="UTF-8"`;
}

/**
 * A check of an HTTP `Authorization` header against `token`: `Bearer <token>` (Prometheus's
 * `credentials_file`), or Basic with the token as the password and any user name (a browser).
 * Compared as SHA-256 digests in constant time, so the answer's timing says nothing of the token.
 */
export function tokenCheck(token: string): (authorization: string | undefined) => boolean {
  const expected = digest(token);
  return (authorization) => {
    const m = /^(Bearer|Basic)\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (m == null) return false;
    let given = m[2] as string;
    if ((m[1] as string).toLowerCase() === 'basic') {
      const decoded = Buffer.from(given, 'base64').toString('utf8');
      given = decoded.slice(decoded.indexOf(':') + 1);
    }
    return timingSafeEqual(digest(given), expected);
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
