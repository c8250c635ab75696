import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { SERVICE_NODE_FLAGS } from '../src/node-flags.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = fileURLToPath(new URL('../src/bin.js', import.meta.url));
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A service command's TypeScript modules that Node had to strip because the cache had no entry. */
async function strippedOnStart(cache: string, args: string[]): Promise<number> {
  const { stdout, stderr } = await run(process.execPath, [...SERVICE_NODE_FLAGS, bin, ...args], {
    env: { ...process.env, NODE_COMPILE_CACHE: cache, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' },
    maxBuffer: 64 * 1024 * 1024,
  });
  expect(stdout).toMatch(new RegExp(`meadow ${args[0]}`));
  return stderr.split('\n').filter((line) => line.includes('no transpile cache for StrippedTypeScript')).length;
}

describe('the compile cache that pnpm install warms', () => {
  it('leaves no TypeScript module of a relay, gateway or bootstrap node to strip on its first start', async () => {
    const cache = await mkdtemp(join(tmpdir(), 'meadow-compile-cache-'));
    dirs.push(cache);
    // A cold cache strips every module: what a first start after an install did before.
    expect(await strippedOnStart(join(cache, 'cold'), ['relay', '--help'])).toBeGreaterThan(20);

    // The root package's own postinstall command, under this Node.
    const scripts = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')).scripts as Record<string, string>;
    const [program, ...args] = (scripts.postinstall ?? '').split(' ');
    expect(program).toBe('node');
    await run(process.execPath, args, { cwd: root, env: { ...process.env, NODE_COMPILE_CACHE: join(cache, 'warm') } });

    for (const command of [
      ['relay', '--help'],
      ['gateway', '--help'],
      ['bootstrap', '--help'],
      ['origin', '--help'],
    ])
      expect(await strippedOnStart(join(cache, 'warm'), command)).toBe(0);
  });
});
