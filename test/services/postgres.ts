import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.ts';

const run = promisify(execFile);

export interface PostgresServer {
  url: string;
  /** Runs SQL with psql against the `postgres` database, behind the back of whatever uses it. */
  sql(text: string): Promise<string>;
  stop(): Promise<void>;
}

async function binDir(): Promise<string> {
  const versions = await readdir('/usr/lib/postgresql').catch(() => [] as string[]);
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (newest == null) {
    if (process.getuid?.() !== 0)
      throw new Error('PostgreSQL is not installed: run `apt-get install -y postgresql` (or `.ci/run`, which does)');
    await run('apt-get', ['install', '-y', '--no-install-recommends', 'postgresql'], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    return binDir();
  }
  return `/usr/lib/postgresql/${newest}/bin`;
}

/**
 * A throwaway PostgreSQL cluster from Debian's binaries, on 127.0.0.1 and a free port, data in a
 * temporary directory (fsync off: tests need speed, not durability). As root it runs as `postgres`.
 */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = await binDir();
  const dir = await mkdtemp(join(tmpdir(), 'meadow-pg-'));
  const asRoot = process.getuid?.() === 0;
  const as = (cmd: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]) : run(join(bin, cmd), args);
  const data = join(dir, 'data');
  const stop = async (): Promise<void> => {
    await as('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  };
  let port: number;
  try {
    if (asRoot) {
      await chmod(dir, 0o777);
      await run('chown', ['postgres:postgres', dir]);
    }
    await as('initdb', ['-D', data, '-A', 'trust', '-U', 'meadow', '--no-sync']);
    port = await freePort();
    await as('pg_ctl', [
      '-D',
      data,
      '-l',
      join(dir, 'server.log'),
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off`,
      '-w',
      'start',
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url: `postgres://meadow@127.0.0.1:${port}/postgres`,
    sql: async (text) =>
      (
        await as('psql', [
          '-h',
          '127.0.0.1',
          '-p',
          String(port),
          '-U',
          'meadow',
          '-d',
          'postgres',
          '-v',
          'ON_ERROR_STOP=1',
          '-Atc',
          text,
        ])
      ).stdout,
    stop,
  };
}
