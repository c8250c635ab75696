import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { missingServiceFlags, SERVICE_NODE_FLAGS } from '../src/node-flags.ts';

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
  it('bin.js, the pnpm scripts and the systemd unit', () => {
    expect(repoFile('packages/cli/src/bin.js').split('\n')[0]).toBe(`#!/usr/bin/env -S node ${flags}`);
    const scripts = (JSON.parse(repoFile('package.json')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.demo).toBe(`node ${flags} packages/cli/src/bin.js demo`);
    expect(scripts.meadow).toBe(`node ${flags} packages/cli/src/bin.js`);
    expect(repoFile('config/meadow-relay.service')).toContain(
      `ExecStart=/opt/meadow/node_modules/.bin/node ${flags} /opt/meadow/packages/cli/src/bin.js relay start`,
    );
  });
});
