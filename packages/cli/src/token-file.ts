import { readFile } from 'node:fs/promises';
import { ConfigError } from './config.ts';

/** The token in a `tokenFile`; a missing, unreadable or short one stops the start, naming `key`. */
export async function readTokenFile(key: string, path: string): Promise<string> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new ConfigError(`${key}: cannot read ${path} (${err.code ?? err.message})`);
  });
  const token = text.trim();
  if (token.length < 16 || /\s/.test(token))
    throw new ConfigError(
      `${key}: ${path} must hold one token of at least 16 characters without spaces (e.g. from: openssl rand -hex 32)`,
    );
  return token;
}
