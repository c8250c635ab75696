import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ChildService } from '../src/child-service.ts';
import { missingServiceFlags, SERVICE_ENV, SERVICE_NODE_FLAGS } from '../src/node-flags.ts';

const repoFile = (path: string): string => readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');

describe('missingServiceFlags', () => {
  it('finds the service flags on the command line or in NODE_OPTIONS, in either spelling', () => {
    const all = [
      '--max-semi-space-size=8',
      '--heap-growing-percent=300',
      '--external-memory-accounted-in-global-limit',
      '--expose-gc',
    ];
    expect(missingServiceFlags([], '')).toEqual(all);
    expect(missingServiceFlags(all, '')).toEqual([]);
    expect(
      missingServiceFlags(
        [],
        '--expose-gc --max-semi-space-size=4 --heap-growing-percent=150 --external-memory-accounted-in-global-limit',
      ),
    ).toEqual([]);
    expect(
      missingServiceFlags(
        [
          '--max_semi_space_size=16',
          '--expose_gc',
          '--heap_growing_percent=300',
          '--external_memory_accounted_in_global_limit',
        ],
        '',
      ),
    ).toEqual([]);
    expect(missingServiceFlags(['--max-old-space-size=512'], '--expose-gc')).toEqual([
      '--max-semi-space-size=8',
      '--heap-growing-percent=300',
      '--external-memory-accounted-in-global-limit',
    ]);
    expect(
      missingServiceFlags(
        ['--max-semi-space-size=8', '--heap-growing-percent=300', '--no-external-memory-accounted-in-global-limit'],
        '',
      ),
    ).toEqual(['--external-memory-accounted-in-global-limit', '--expose-gc']);
  });
});

describe('every way a service is started passes the service flags', () => {
  // Node keeps compile-cache entries per V8 flag set: a start path with other flags would neither
  // get the memory behaviour the flags are for nor use the cache `pnpm install` warmed.
  const flags = SERVICE_NODE_FLAGS.join(' ');
  // The environment has to be there before the process starts (glibc reads MALLOC_ARENA_MAX once).
  const env = Object.entries(SERVICE_ENV).map(([name, value]) => `${name}=${value}`);
  it('bin.js, the pnpm scripts and the systemd unit', () => {
    expect(repoFile('packages/cli/src/bin.js').split('\n')[0]).toBe(`#!/usr/bin/env -S ${env.join(' ')} node ${flags}`);
    const scripts = (JSON.parse(repoFile('package.json')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.demo).toBe(`${env.join(' ')} node ${flags} packages/cli/src/bin.js demo`);
    expect(scripts.meadow).toBe(`${env.join(' ')} node ${flags} packages/cli/src/bin.js`);
    for (const role of ['relay', 'gateway']) {
      const unit = repoFile(`config/meadow-${role}.service`);
      expect(unit).toContain(
        `ExecStart=/opt/meadow/node_modules/.bin/node ${flags} /opt/meadow/packages/cli/src/bin.js ${role} start`,
      );
      for (const assignment of env) expect(unit).toContain(`\nEnvironment=${assignment}\n`);
    }
  });

  it('the local network starts its processes with the service environment', async () => {
    const origin = new ChildService('origin', ['origin', '--host', '127.0.0.1', '--port', '0']);
    try {
      await origin.ready;
      const environ = readFileSync(`/proc/${origin.process.pid}/environ`, 'utf8').split('\0');
      for (const assignment of env) expect(environ).toContain(assignment);
    } finally {
      await origin.stop();
    }
  });
});
