import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../src/bin.js', import.meta.url));

/** Runs the `meadow` command in its own process, as a user would. */
export function meadow(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], (error, stdout, stderr) => {
      resolve({
        code: error == null ? 0 : Number((error as { code?: number }).code),
        stdout: String(stdout),
        stderr: String(stderr),
      });
    });
  });
}
