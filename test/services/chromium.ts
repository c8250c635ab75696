import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { type Browser, chromium } from 'playwright-core';

const run = promisify(execFile);
const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** Debian's chromium, installed with apt when missing (as root; `.ci/run` installs it too). */
async function executable(): Promise<string> {
  const found = CANDIDATES.find((path) => existsSync(path));
  if (found != null) return found;
  if (process.getuid?.() !== 0)
    throw new Error('Chromium is not installed: run `apt-get install -y chromium` (or `.ci/run`, which does)');
  await run('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    maxBuffer: 64 * 1024 * 1024,
  });
  return executable();
}

/**
 * A headless chromium driven by playwright-core. `hostAliases` map names to 127.0.0.1 inside the
 * browser only (for DNS-rebinding tests), without touching the machine's resolver; `args` are more
 * command-line switches.
 */
export async function launchChromium(options: { hostAliases?: string[]; args?: string[] } = {}): Promise<Browser> {
  const rules = (options.hostAliases ?? []).map((name) => `MAP ${name} 127.0.0.1`).join(', ');
  return chromium.launch({
    executablePath: await executable(),
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-dev-shm-usage',
      ...(rules === '' ? [] : [`--host-resolver-rules=${rules}`]),
      ...(options.args ?? []),
    ],
    timeout: 60_000,
  });
}
