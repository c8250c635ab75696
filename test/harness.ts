import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LocalNetwork } from '@meadow/cli';
import { SocksClient } from 'socks';
import { fetch } from 'undici';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

export interface CurlResult {
  code: number;
  status: number;
  body: string;
  headers: string;
}

/** Runs the real curl binary; `-w` appends the status so failures are visible too. */
export function curl(args: string[], timeoutMs = 30_000): Promise<CurlResult> {
  const headerFile = join(tmpdir(), `meadow-curl-${randomUUID()}`);
  return new Promise((resolve) => {
    execFile(
      'curl',
      ['-sS', '--max-time', String(Math.ceil(timeoutMs / 1000)), '-D', headerFile, '-w', '\n%{http_code}', ...args],
      { maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const text = String(stdout);
        const cut = text.lastIndexOf('\n');
        let headers = '';
        try {
          headers = readFileSync(headerFile, 'utf8');
          rmSync(headerFile);
        } catch {
          headers = String(stderr);
        }
        resolve({
          code: error == null ? 0 : Number((error as { code?: number }).code ?? 1),
          status: Number(text.slice(cut + 1)),
          body: text.slice(0, cut),
          headers,
        });
      },
    );
  });
}

export async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url).catch((err: Error) => {
    // A kept-alive connection the server closed just as it was reused (a race on a busy machine,
    // seen as ECONNRESET or "other side closed"): a status read is safe to send again, once.
    const code = (err.cause as { code?: string } | undefined)?.code;
    if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return fetch(url);
    throw err;
  });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resident memory of a process, from /proc (Linux). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  return kb == null ? 0 : Number(kb[1]) * 1024;
}

/**
 * A SOCKS5 tunnel through the gateway. With `allowHalfOpen` the client keeps its sending side open
 * after the far side's FIN (for half-close tests); otherwise it ends it, as most clients do.
 */
export async function socksConnect(
  proxy: { host: string; port: number },
  creds: { username: string; password: string },
  host: string,
  port: number,
  options: { allowHalfOpen?: boolean } = {},
): Promise<Socket> {
  const existing = connect({ host: proxy.host, port: proxy.port, allowHalfOpen: options.allowHalfOpen ?? false });
  await once(existing, 'connect');
  try {
    const { socket } = await SocksClient.createConnection({
      proxy: { host: proxy.host, port: proxy.port, type: 5, userId: creds.username, password: creds.password },
      command: 'connect',
      destination: { host, port },
      timeout: 15_000,
      existing_socket: existing,
    });
    return socket;
  } catch (err) {
    existing.destroy();
    throw err;
  }
}

export function httpConnect(
  proxy: { host: string; port: number },
  creds: { username: string; password: string },
  authority: string,
  options: { allowHalfOpen?: boolean } = {},
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: proxy.host,
      port: proxy.port,
      createConnection: () =>
        connect({ host: proxy.host, port: proxy.port, allowHalfOpen: options.allowHalfOpen ?? false }),
      method: 'CONNECT',
      path: authority,
      headers: {
        'proxy-authorization': `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`,
      },
    });
    req.once('error', reject);
    req.once('connect', (res, socket, head) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new Error(`CONNECT answered ${res.statusCode}: ${res.headers['proxy-status']}`));
        return;
      }
      // Bytes the target sent right behind the 200 arrive in `head`: give them back to the socket.
      if (head.byteLength > 0) socket.unshift(head);
      resolve(socket);
    });
    req.end();
  });
}

/**
 * Waits until no tunnel is open anywhere: the gateway's own count, its view of each relay, and each
 * running relay's own count. Leaked tunnels are the classic proxy bug, so every e2e file checks this.
 */
export async function waitForNoTunnels(net: LocalNetwork, timeoutMs = 10_000): Promise<void> {
  await waitFor(
    async () => {
      const gw = await getJson<{ activeTunnels: number; relays: Array<{ activeTunnels: number }> }>(
        `${net.gateway.adminUrl}/status`,
      );
      const relays = await Promise.all(
        net.relays
          .filter((r) => r.service.running)
          .map((r) =>
            getJson<{ activeTunnels: number }>(`${r.statusUrl}/status`).catch(async (err: Error) => {
              // A relay that died under the test must say so, with its last lines, not as ECONNREFUSED.
              await new Promise((done) => setTimeout(done, 500));
              if (r.service.running) throw err;
              throw new Error(
                `${r.service.name} exited (${r.service.exitedWith}) during the test\n${r.service.tail(40)}`,
              );
            }),
          ),
      );
      return (
        gw.activeTunnels === 0 &&
        gw.relays.every((r) => r.activeTunnels === 0) &&
        relays.every((r) => r.activeTunnels === 0)
      );
    },
    timeoutMs,
    'every tunnel closed at the gateway and the relays',
  );
}

const MEADOW_BIN = fileURLToPath(new URL('../packages/cli/src/bin.js', import.meta.url));

/** Runs the `meadow` CLI as a real process (inside `launcher`, e.g. `ip netns exec`), and returns its exit code and output. */
export function runMeadow(
  args: string[],
  timeoutMs = 120_000,
  launcher: string[] = [],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [command, ...rest] = [...launcher, process.execPath, MEADOW_BIN, ...args] as [string, ...string[]];
  return new Promise((resolve) => {
    execFile(command, rest, { timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({
        code: error == null ? 0 : Number((error as { code?: number }).code ?? 1),
        stdout: String(stdout),
        stderr: String(stderr),
      });
    });
  });
}

/**
 * Writes the config of another gateway like the one at `from` (same network, stores and customers):
 * its own identity and data folder (`<name>.key`, `<name>-data` in `dir`), every port free, and
 * `changes` on top. Returns the new config's path.
 */
export async function anotherGatewayConfig(
  from: string,
  dir: string,
  name: string,
  changes: Record<string, unknown> = {},
): Promise<string> {
  const free = { host: '127.0.0.1', port: 0 };
  return configVariant<Record<string, unknown>>(from, dir, `${name}.yaml`, (config) =>
    Object.assign(config, {
      identity: join(dir, `${name}.key`),
      dataDir: join(dir, `${name}-data`),
      socks: free,
      http: free,
      admin: free,
      ...changes,
    }),
  );
}

/** What `meadow <role> doctor --json` prints. */
export interface DoctorReport {
  ok: boolean;
  checks: Array<{ name: string; verdict: string; detail: string; fix?: string }>;
}

/** Runs `meadow <role> doctor` on a config, once with --json and once as text. */
export async function runDoctor(
  role: 'relay' | 'gateway',
  config: string,
  launcher: string[] = [],
): Promise<{ code: number; report: DoctorReport; text: string; stderr: string }> {
  const json = await runMeadow([role, 'doctor', '--config', config, '--json'], 120_000, launcher);
  const text = await runMeadow([role, 'doctor', '--config', config], 120_000, launcher);
  return { code: json.code, report: JSON.parse(json.stdout) as DoctorReport, text: text.stdout, stderr: json.stderr };
}

/** Writes `<dir>/<name>`: a copy of the YAML config at `from` with some keys changed. */
export async function configVariant<T>(from: string, dir: string, name: string, change: (config: T) => void) {
  const config = parseYaml(await readFile(from, 'utf8')) as T;
  change(config);
  const path = join(dir, name);
  await writeFile(path, stringifyYaml(config));
  return path;
}
