import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** What a running gateway writes to `<dataDir>/gateway.json`, for `meadow gateway doctor` and scripts. */
export interface GatewayRunFile {
  pid: number;
  peerId: string;
  startedAt: string;
  /** Where its admin API answers, a loopback address when it listens on all of them. */
  adminUrl: string;
  /** The ports it holds, by config key (`network.listen` as multiaddrs). */
  listening: {
    socks: { host: string; port: number };
    http: { host: string; port: number };
    https?: { host: string; port: number };
    admin: { host: string; port: number };
    p2p: string[];
  };
}

const FILE = 'gateway.json';

export async function writeGatewayRunFile(dataDir: string, run: GatewayRunFile): Promise<void> {
  await writeFile(join(dataDir, FILE), `${JSON.stringify(run)}\n`, { mode: 0o600 });
}

/** Removed at a clean stop, so that the file's presence means a gateway runs (or crashed). */
export async function removeGatewayRunFile(dataDir: string): Promise<void> {
  await rm(join(dataDir, FILE), { force: true });
}

export async function readGatewayRunFile(dataDir: string): Promise<GatewayRunFile | undefined> {
  try {
    return JSON.parse(await readFile(join(dataDir, FILE), 'utf8')) as GatewayRunFile;
  } catch {
    return undefined;
  }
}

/** An address to reach a listener on from this machine: loopback for one that listens on all addresses. */
function reachableHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return host;
}

export function httpUrl(host: string, port: number): string {
  const h = reachableHost(host);
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}
