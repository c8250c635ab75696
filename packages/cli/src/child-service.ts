import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SERVICE_ENV, SERVICE_NODE_FLAGS } from './node-flags.ts';

export const BIN_PATH = fileURLToPath(new URL('./bin.js', import.meta.url));

/** One `meadow …` process started by the local-network launcher, with its 'ready' log line. */
export class ChildService {
  readonly name: string;
  readonly process: ChildProcess;
  readonly ready: Promise<Record<string, unknown>>;
  private readonly recent: string[] = [];
  private exited = false;
  /** The exit code or signal, once the process has exited. */
  exitedWith: number | NodeJS.Signals | null = null;

  constructor(
    name: string,
    args: string[],
    options: {
      readyTimeoutMs?: number;
      onLine?: (line: Record<string, unknown>) => void;
      /** Node flags beyond the services' own, e.g. `--inspect=127.0.0.1:0` to profile the process. */
      nodeFlags?: readonly string[];
      /** A command that runs node in turn, e.g. `ip netns exec <name>` (it must exec node, keeping the pid). */
      launcher?: readonly string[];
      /**
       * The command that runs `meadow` instead of this checkout's under this Node, e.g. a release
       * archive's `bin/meadow` (it must exec node, keeping the pid; it brings its own flags, so
       * `nodeFlags` do not apply).
       */
      program?: readonly string[];
    } = {},
  ) {
    this.name = name;
    const meadow =
      options.program != null
        ? options.program
        : [process.execPath, ...SERVICE_NODE_FLAGS, ...(options.nodeFlags ?? []), BIN_PATH];
    const command = [...(options.launcher ?? []), ...meadow, ...args] as [string, ...string[]];
    this.process = spawn(command[0], command.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...SERVICE_ENV },
    });
    this.process.once('exit', (code, signal) => {
      this.exited = true;
      this.exitedWith = signal ?? code;
    });
    const timeoutMs = options.readyTimeoutMs ?? 30_000;
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${name} not ready after ${timeoutMs} ms\n${this.tail()}`)),
        timeoutMs,
      );
      const lines = createInterface({ input: this.process.stdout as NodeJS.ReadableStream });
      lines.on('line', (text) => {
        this.remember(text);
        let line: Record<string, unknown>;
        try {
          line = JSON.parse(text) as Record<string, unknown>;
        } catch {
          return;
        }
        options.onLine?.(line);
        if (line.msg === 'ready') {
          clearTimeout(timer);
          resolve(line);
        }
      });
      createInterface({ input: this.process.stderr as NodeJS.ReadableStream }).on('line', (text) =>
        this.remember(text),
      );
      this.process.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${signal ?? code}) before it was ready\n${this.tail()}`));
      });
    });
    this.ready.catch(() => {});
  }

  /** The last lines the process wrote, for error messages. */
  tail(lines = 20): string {
    return this.recent
      .slice(-lines)
      .map((l) => `  [${this.name}] ${l}`)
      .join('\n');
  }

  get running(): boolean {
    return !this.exited;
  }

  /** SIGTERM, then SIGKILL if it has not exited within the grace period. Resolves with the exit code. */
  async stop(graceMs = 15_000): Promise<number | null> {
    if (this.exited) return this.process.exitCode;
    const exit = once(this.process, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    const [code] = await exit;
    clearTimeout(timer);
    return code;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.process.kill(signal);
  }

  private remember(line: string): void {
    this.recent.push(line);
    if (this.recent.length > 200) this.recent.shift();
  }
}
