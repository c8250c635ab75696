import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fetch } from 'undici';
import { debianTool, startUntilReady } from './debian-service.ts';
import { freePort } from './free-port.ts';

/** Debian's `prometheus-alertmanager` or its `amtool` (one package ships both), installed when missing. */
export function alertmanagerTool(name: 'prometheus-alertmanager' | 'amtool'): Promise<string> {
  return debianTool(name, 'prometheus-alertmanager');
}

/** An alert as Alertmanager's `/api/v2/alerts` lists it. */
export interface ManagedAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  status: { state: 'active' | 'suppressed' | 'unprocessed'; inhibitedBy: string[]; silencedBy: string[] };
  receivers: Array<{ name: string }>;
}

export interface AlertmanagerServer {
  /** The address Prometheus's `alerting.alertmanagers` target takes: host:port. */
  hostPort: string;
  /** Alerts as Prometheus sends them (labels, annotations), as if a Prometheus had fired them now. */
  post(alerts: Array<{ labels: Record<string, string>; annotations?: Record<string, string> }>): Promise<void>;
  alerts(): Promise<ManagedAlert[]>;
  stop(): Promise<void>;
}

/** Starts Alertmanager with `config` (YAML text) in `dir`, on a free loopback port, without clustering. */
export async function runAlertmanager(dir: string, config: string): Promise<AlertmanagerServer> {
  const binary = await alertmanagerTool('prometheus-alertmanager');
  const configPath = join(dir, 'alertmanager.yml');
  await writeFile(configPath, config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = await startUntilReady(
    'alertmanager',
    binary,
    [
      `--config.file=${configPath}`,
      `--storage.path=${join(dir, 'alertmanager-data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
    `${url}/-/ready`,
  );
  return {
    hostPort: `127.0.0.1:${port}`,
    post: async (alerts) => {
      const res = await fetch(`${url}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(alerts.map((a) => ({ annotations: {}, ...a, startsAt: new Date().toISOString() }))),
      });
      if (!res.ok) throw new Error(`POST /api/v2/alerts: HTTP ${res.status} ${await res.text()}`);
    },
    alerts: async () => (await (await fetch(`${url}/api/v2/alerts`)).json()) as ManagedAlert[],
    stop: server.stop,
  };
}

/** One notification as Alertmanager's webhook receiver sends it. */
export interface Notification {
  /** The path of the receiver's URL it was sent to. */
  path: string;
  receiver: string;
  status: 'firing' | 'resolved';
  groupLabels: Record<string, string>;
  alerts: Array<{ status: string; labels: Record<string, string>; annotations: Record<string, string> }>;
}

/** A webhook endpoint on loopback that keeps every notification it is sent. */
export async function webhookReceiver(): Promise<{
  url: string;
  notifications: Notification[];
  close(): Promise<void>;
}> {
  const notifications: Notification[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      notifications.push({ path: req.url ?? '', ...JSON.parse(Buffer.concat(chunks).toString()) });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    notifications,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
