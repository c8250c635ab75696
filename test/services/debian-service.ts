import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { fetch } from 'undici';

const run = promisify(execFile);

/**
 * The path of `command`, from Debian package `debianPackage`. Installed when missing and running
 * as root, as CI's machine is; a package that starts a system-wide service leaves it on its default
 * port, which tests never use.
 */
export async function debianTool(command: string, debianPackage: string): Promise<string> {
  const found = await run('sh', ['-c', `command -v ${command}`]).then(
    (r) => r.stdout.trim(),
    () => '',
  );
  if (found !== '') return found;
  if (process.getuid?.() !== 0)
    throw new Error(`${command} is not installed: run \`apt-get install -y ${debianPackage}\``);
  process.stderr.write(`installing Debian package ${debianPackage}…\n`);
  await run('apt-get', ['install', '-y', '--no-install-recommends', debianPackage], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return debianTool(command, debianPackage);
}

/** `path`, from the Debian packages `debianPackages`: installed as debianTool installs a command. */
export async function debianFile(path: string, debianPackages: string[]): Promise<string> {
  if (existsSync(path)) return path;
  if (process.getuid?.() !== 0)
    throw new Error(`${path} is missing: run \`apt-get install -y ${debianPackages.join(' ')}\``);
  process.stderr.write(`installing Debian packages ${debianPackages.join(' ')}…\n`);
  await run('apt-get', ['install', '-y', '--no-install-recommends', ...debianPackages], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (!existsSync(path)) throw new Error(`${path} is still missing after installing ${debianPackages.join(' ')}`);
  return path;
}

/** A server process started by a test: stopped with SIGTERM, waited for. */
export interface StartedServer {
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `binary` with `args` and waits (up to 30 s) until `readyUrl` answers 2xx. */
export async function startUntilReady(
  name: string,
  binary: string,
  args: string[],
  readyUrl: string,
): Promise<StartedServer> {
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode != null) throw new Error(`${name} exited: ${stderr}`);
    const ready = await fetch(readyUrl).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} not ready after 30 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    child,
    stop: async () => {
      if (child.exitCode != null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
