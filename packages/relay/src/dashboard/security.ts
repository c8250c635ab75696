import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const SESSION_TTL_MS = 12 * 3_600_000;
const MAX_FORM_BYTES = 16 * 1024;

/**
 * Why a state-changing request looks cross-site, or undefined when it is same-origin. Browsers send
 * `Sec-Fetch-Site` and `Origin` on form posts; a request with neither is a non-browser client,
 * which still needs the session and CSRF token (or the bearer token) to change anything.
 */
export function crossSiteReason(req: IncomingMessage): string | undefined {
  const site = req.headers['sec-fetch-site'];
  if (site != null && site !== 'same-origin' && site !== 'none') return `Sec-Fetch-Site is ${site}`;
  const origin = req.headers.origin;
  if (origin != null && origin !== `http://${req.headers.host}`) return `Origin ${origin} is not this dashboard`;
  return undefined;
}

export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function bearerAuthorized(req: IncomingMessage, token: string): boolean {
  const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
  return m != null && sameSecret(m[1] as string, token);
}

/**
 * Dashboard sign-in: the control token (from the 0600 file) buys a session cookie (HttpOnly,
 * SameSite=Strict); every form carries a CSRF token bound to that session.
 */
export class Sessions {
  readonly cookieName: string;
  private readonly token: string;
  private readonly secret = randomBytes(32);
  private readonly sessions = new Map<string, number>();

  constructor(token: string, port: number) {
    this.token = token;
    // Cookies are not scoped by port: one name per relay keeps two relays on one machine apart.
    this.cookieName = `meadow_relay_${port}`;
  }

  /** A new session id when the token is right. */
  login(givenToken: string, now = Date.now()): string | undefined {
    if (!sameSecret(givenToken.trim(), this.token)) return undefined;
    for (const [id, expires] of this.sessions) if (expires <= now) this.sessions.delete(id);
    const id = randomBytes(24).toString('base64url');
    this.sessions.set(id, now + SESSION_TTL_MS);
    return id;
  }

  logout(req: IncomingMessage): void {
    const id = this.sessionId(req);
    if (id != null) this.sessions.delete(id);
  }

  /** The request's live session id, if any. */
  sessionId(req: IncomingMessage, now = Date.now()): string | undefined {
    const cookie = req.headers.cookie ?? '';
    for (const part of cookie.split(';')) {
      const [name, value] = part.trim().split('=', 2);
      if (name !== this.cookieName || value == null) continue;
      const expires = this.sessions.get(value);
      if (expires != null && expires > now) return value;
    }
    return undefined;
  }

  setCookie(id: string): string {
    return `${this.cookieName}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_TTL_MS / 1000}`;
  }

  clearCookie(): string {
    return `${this.cookieName}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`;
  }

  csrfToken(sessionId: string): string {
    return createHmac('sha256', this.secret).update(sessionId).digest('base64url');
  }

  csrfValid(sessionId: string, given: string | null): boolean {
    return given != null && sameSecret(given, this.csrfToken(sessionId));
  }
}

export class FormError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Reads an `application/x-www-form-urlencoded` body of at most 16 KiB. */
export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim();
  if (type !== 'application/x-www-form-urlencoded')
    throw new FormError(415, 'expected a form (application/x-www-form-urlencoded)');
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > MAX_FORM_BYTES) throw new FormError(413, 'form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
