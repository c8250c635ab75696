import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fetch } from 'undici';
import { debianTool, startUntilReady } from './debian-service.ts';
import { freePort } from './free-port.ts';

/** An alert as Prometheus's `/api/v1/alerts` lists it. */
export interface ActiveAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
  value: string;
}

/** A rule as `/api/v1/rules` lists it, with the result of its last evaluation. */
export interface RuleStatus {
  name: string;
  type: 'alerting' | 'recording';
  health: 'ok' | 'err' | 'unknown';
  lastError?: string;
  query: string;
}

export interface PrometheusServer {
  url: string;
  /** An instant PromQL query evaluated at `at` (Unix seconds; now when left out): each series' labels and value. */
  query(promql: string, at?: number): Promise<Array<{ labels: Record<string, string>; value: number }>>;
  /** The single value of a query, or NaN when it has no result. */
  scalar(promql: string, at?: number): Promise<number>;
  /** Alerts pending or firing now. */
  alerts(): Promise<ActiveAlert[]>;
  /** Every rule of every group. */
  rules(): Promise<RuleStatus[]>;
  stop(): Promise<void>;
}

/** Debian's `prometheus` or `promtool` (one package ships both), installed when missing. */
export function prometheusTool(name: 'prometheus' | 'promtool'): Promise<string> {
  return debianTool(name, 'prometheus');
}

async function api<T>(url: string, what: string): Promise<T> {
  const res = await fetch(url);
  const body = (await res.json()) as { status: string; error?: string; data?: T };
  if (body.status !== 'success' || body.data == null) throw new Error(`${what}: ${body.error ?? `HTTP ${res.status}`}`);
  return body.data;
}

/** Starts a Prometheus server with `config` (YAML text) in `dir`, on a free loopback port, and waits until it is ready. */
export async function runPrometheus(dir: string, config: string): Promise<PrometheusServer> {
  const binary = await prometheusTool('prometheus');
  const configPath = join(dir, 'prometheus.yml');
  await writeFile(configPath, config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = await startUntilReady(
    'prometheus',
    binary,
    [
      `--config.file=${configPath}`,
      `--storage.tsdb.path=${join(dir, 'prometheus-data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    `${url}/-/ready`,
  );
  const query = async (promql: string, at?: number) => {
    const params = new URLSearchParams({ query: promql });
    if (at != null) params.set('time', String(at));
    const data = await api<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(
      `${url}/api/v1/query?${params}`,
      `PromQL ${promql}`,
    );
    return data.result.map((r) => ({ labels: r.metric, value: Number(r.value[1]) }));
  };
  return {
    url,
    query,
    scalar: async (promql, at) => (await query(promql, at))[0]?.value ?? Number.NaN,
    alerts: async () => (await api<{ alerts: ActiveAlert[] }>(`${url}/api/v1/alerts`, 'alerts')).alerts,
    rules: async () =>
      (await api<{ groups: Array<{ rules: RuleStatus[] }> }>(`${url}/api/v1/rules`, 'rules')).groups.flatMap(
        (g) => g.rules,
      ),
    stop: server.stop,
  };
}
