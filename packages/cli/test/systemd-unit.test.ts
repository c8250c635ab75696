import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SERVICE_NODE_FLAGS } from '../src/node-flags.ts';

const run = promisify(execFile);
const unitPath = fileURLToPath(new URL('../../../config/meadow-relay.service', import.meta.url));
const binPath = fileURLToPath(new URL('../src/bin.js', import.meta.url));
const warmPath = fileURLToPath(new URL('../src/warm-compile-cache.js', import.meta.url));

describe('config/meadow-relay.service', () => {
  it('starts `meadow relay start` from the install path and passes systemd-analyze verify', async () => {
    const unit = await readFile(unitPath, 'utf8');
    const exec = /^ExecStart=(\S+) ((?:--\S+ )*)(\S+) (.+)$/m.exec(unit);
    expect(exec?.[2]?.trim()).toBe(SERVICE_NODE_FLAGS.join(' '));
    expect(exec?.[3]).toBe('/opt/meadow/packages/cli/src/bin.js');
    expect(exec?.[4]).toBe('relay start --config /etc/meadow/relay.yaml');
    // The compile cache the service uses is warmed before each start (compile-cache.test.ts).
    expect(unit).toMatch(/^Environment=NODE_COMPILE_CACHE=%C\/meadow-relay$/m);
    expect(unit).toMatch(
      /^ExecStartPre=\/opt\/meadow\/node_modules\/\.bin\/node \/opt\/meadow\/packages\/cli\/src\/warm-compile-cache\.js$/m,
    );
    expect(unit).toMatch(/^ReadWritePaths=\/etc\/meadow$/m); // the dashboard saves settings there
    expect(unit).toMatch(/^IPAddressDeny=.*192\.168\.0\.0\/16/m);
    if (!existsSync('/usr/bin/systemd-analyze')) return;
    // The same unit with this checkout's paths, so the verifier can check the command exists.
    const dir = await mkdtemp(join(tmpdir(), 'meadow-unit-'));
    try {
      const local = join(dir, 'meadow-relay.service');
      await writeFile(
        local,
        unit
          .replace(/^ExecStart=(\S+) (\S+) \S+/m, `ExecStart=${process.execPath} $2 ${binPath}`)
          .replace(/^ExecStartPre=\S+ \S+/m, `ExecStartPre=${process.execPath} ${warmPath}`),
      );
      const { stderr } = await run('systemd-analyze', ['verify', local]).catch((err: { stderr: string }) => err);
      expect(stderr.split('\n').filter((l) => l.includes('meadow-relay.service'))).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
