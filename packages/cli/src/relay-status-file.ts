import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

// Its own module so that a running relay, which writes the file, does not load the HTTP client that
// `meadow relay pause|resume|status` uses to read it (undici costs the relay ~3 MiB resident).

/** Where a running relay says its local API is, so `meadow relay pause|resume|status` can find it. */
export async function writeStatusFile(dataDir: string, statusUrl: string): Promise<void> {
  await writeFile(join(dataDir, 'status.json'), `${JSON.stringify({ statusUrl, pid: process.pid })}\n`, {
    mode: 0o600,
  });
}

/** The local API address a running relay wrote, or undefined when no relay has written one. */
export async function readStatusUrl(dataDir: string): Promise<string | undefined> {
  try {
    return (JSON.parse(await readFile(join(dataDir, 'status.json'), 'utf8')) as { statusUrl: string }).statusUrl;
  } catch {
    return undefined;
  }
}
