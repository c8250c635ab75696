import { readFile } from 'node:fs/promises';
import { type PrometheusServer, runPrometheus } from '../../test/services/prometheus.ts';

export type { PrometheusServer };

/** Starts Debian's prometheus with config/prometheus.loadtest.yml, the targets filled in. */
export async function startPrometheus(
  dir: string,
  targets: { loadgen: number; gatewayAdmin: number; relayStatus: number[] },
): Promise<PrometheusServer> {
  const template = await readFile(new URL('../../config/prometheus.loadtest.yml', import.meta.url), 'utf8');
  const config = template
    .replace('LOADGEN_PORT', String(targets.loadgen))
    .replace('GATEWAY_ADMIN_PORT', String(targets.gatewayAdmin))
    .replace('RELAY_STATUS_TARGETS', targets.relayStatus.map((p) => `"127.0.0.1:${p}"`).join(', '));
  return runPrometheus(dir, config);
}
