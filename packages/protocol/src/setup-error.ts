/**
 * A service cannot start because of how it is set up (a certificate, a database it cannot reach):
 * told to the operator in one line that names the config key, not as a stack trace.
 */
export class SetupError extends Error {
  readonly key: string;

  constructor(key: string, message: string, options?: ErrorOptions) {
    super(`${key}: ${message}`, options);
    this.name = 'SetupError';
    this.key = key;
  }
}

/** A postgres:// (or postgresql://) URL, as opposed to a SQLite file path. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(?:ql)?:\/\//.test(location);
}

/** A database URL as it may be shown: any password replaced by `***`. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]+):[^@/]*@/i, '$1:***@');
}
