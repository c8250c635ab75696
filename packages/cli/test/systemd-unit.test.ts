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
const binPath = fileURLToPath(new URL('../src/bin.js', import.meta.url));
const warmPath = fileURLToPath(new URL('../src/warm-compile-cache.js', import.meta.url));

describe.each([
  { role: 'relay', checks: [/^ReadWritePaths=\/etc\/meadow$/m, /^IPAddressDeny=.*192\.168\.0\.0\/16/m] },
  { role: 'gateway', checks: [/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m, /^LimitNOFILE=65536$/m] },
])('config/meadow-$role.service', ({ role, checks }) => {
  const unitPath = fileURLToPath(new URL(`../../../config/meadow-${role}.service`, import.meta.url));
  it(`starts \`meadow ${role} start\` from the install path and passes systemd-analyze verify`, async () => {
    const unit = await readFile(unitPath, 'utf8');
    const exec = /^ExecStart=(\S+) ((?:--\S+ )*)(\S+) (.+)$/m.exec(unit);
    expect(exec?.[2]?.trim()).toBe(SERVICE_NODE_FLAGS.join(' '));
    expect(exec?.[3]).toBe('/opt/meadow/packages/cli/src/bin.js');
    expect(exec?.[4]).toBe(`${role} start --config /etc/meadow/${role}.yaml`);
    // The compile cache the service uses is warmed before each start (compile-cache.test.ts).
    expect(unit).toContain(`\nEnvironment=NODE_COMPILE_CACHE=%C/meadow-${role}\n`);
    expect(unit).toMatch(
      /^ExecStartPre=\/opt\/meadow\/node_modules\/\.bin\/node \/opt\/meadow\/packages\/cli\/src\/warm-compile-cache\.js$/m,
    );
    for (const check of checks) expect(unit).toMatch(check);
    if (!existsSync('/usr/bin/systemd-analyze')) return;
    // The same unit with this checkout's paths, so the verifier can check the command exists.
    const dir = await mkdtemp(join(tmpdir(), 'meadow-unit-'));
    try {
      const local = join(dir, `meadow-${role}.service`);
      await writeFile(
        local,
        unit
          .replace(/^ExecStart=(\S+) (\S+) \S+/m, `ExecStart=${process.execPath} $2 ${binPath}`)
          .replace(/^ExecStartPre=\S+ \S+/m, `ExecStartPre=${process.execPath} ${warmPath}`),
      );
      const { stderr } = await run('systemd-analyze', ['verify', local]).catch((err: { stderr: string }) => err);
      expect(stderr.split('\n').filter((l) => l.includes(`meadow-${role}.service`))).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
