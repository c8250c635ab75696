import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fetch } from 'undici';
import { freePort } from '../../test/services/free-port.ts';

const run = promisify(execFile);

export interface PrometheusServer {
  url: string;
  /** An instant PromQL query evaluated at `at` (Unix seconds); returns each series' labels and value. */
  query(promql: string, at: number): Promise<Array<{ labels: Record<string, string>; value: number }>>;
  /** The single value of a query, or NaN when it has no result. */
  scalar(promql: string, at: number): Promise<number>;
  stop(): Promise<void>;
}

async function prometheusBinary(): Promise<string> {
  const found = await run('sh', ['-c', 'command -v prometheus']).then(
    (r) => r.stdout.trim(),
    () => '',
  );
  if (found !== '') return found;
  if (process.getuid?.() !== 0) throw new Error('Prometheus is not installed: run `apt-get install -y prometheus`');
  process.stderr.write('installing Debian package prometheus…\n');
  await run('apt-get', ['install', '-y', '--no-install-recommends', 'prometheus'], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  // The package starts a system-wide Prometheus on :9090; ours runs on its own port and folder.
  return prometheusBinary();
}

/** Starts Debian's prometheus with config/prometheus.loadtest.yml, the targets filled in. */
export async function startPrometheus(
  dir: string,
  targets: { loadgen: number; gatewayAdmin: number; relayStatus: number[] },
): Promise<PrometheusServer> {
  const binary = await prometheusBinary();
  const template = await readFile(new URL('../../config/prometheus.loadtest.yml', import.meta.url), 'utf8');
  const config = template
    .replace('LOADGEN_PORT', String(targets.loadgen))
    .replace('GATEWAY_ADMIN_PORT', String(targets.gatewayAdmin))
    .replace('RELAY_STATUS_TARGETS', targets.relayStatus.map((p) => `"127.0.0.1:${p}"`).join(', '));
  const configPath = join(dir, 'prometheus.yml');
  await writeFile(configPath, config);
  const port = await freePort();
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${configPath}`,
      `--storage.tsdb.path=${join(dir, 'prometheus-data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode != null) throw new Error(`prometheus exited: ${stderr}`);
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`prometheus not ready after 30 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const query = async (promql: string, at: number) => {
    const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql, time: String(at) })}`);
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
    };
    if (body.status !== 'success') throw new Error(`PromQL ${promql}: ${body.error}`);
    return (body.data?.result ?? []).map((r) => ({ labels: r.metric, value: Number(r.value[1]) }));
  };
  return {
    url,
    query,
    scalar: async (promql, at) => (await query(promql, at))[0]?.value ?? Number.NaN,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
