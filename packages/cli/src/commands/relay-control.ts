import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { loadOrCreateIdentity } from '@meadow/discovery';
import { fetch } from 'undici';
import { ConfigError, loadConfig, relativeTo, relayConfig } from '../config.ts';
import { readStatusUrl } from '../relay-status-file.ts';
import { relayConfigTemplate } from '../relay-template.ts';

async function localApi(configPath: string): Promise<{ url: string; token: string }> {
  const config = await loadConfig(configPath, relayConfig);
  const dataDir = relativeTo(configPath, config.dataDir);
  const url = (await readStatusUrl(dataDir)) ?? `http://${config.status.host}:${config.status.port}`;
  const token = (await readFile(join(dataDir, 'control.token'), 'utf8').catch(() => '')).trim();
  return { url, token };
}

export async function relayControlCommand(action: 'pause' | 'resume' | 'status', configPath: string): Promise<number> {
  const { url, token } = await localApi(configPath);
  let res: Awaited<ReturnType<typeof fetch>>;
  try {
    res =
      action === 'status'
        ? await fetch(`${url}/status`)
        : await fetch(`${url}/control/${action}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  } catch (err) {
    process.stderr.write(`meadow: the relay is not answering at ${url} (${(err as Error).message}). Is it running?\n`);
    return 1;
  }
  const body = (await res.json()) as Record<string, unknown>;
  if (!res.ok) {
    process.stderr.write(`meadow: ${action} failed: ${String(body.error ?? res.status)}\n`);
    return 1;
  }
  if (action === 'status') {
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  } else {
    process.stdout.write(`relay is ${String(body.state)}: ${String(body.reason)}\n`);
  }
  return 0;
}

export async function relayInitCommand(args: {
  config: string;
  country: string;
  payoutAddress: string;
  bootstrap: string[];
}): Promise<number> {
  const existing = await readFile(args.config).catch(() => undefined);
  if (existing != null) throw new ConfigError(`${args.config} already exists: not overwriting it`);
  await writeFile(args.config, relayConfigTemplate(args), { flag: 'wx' });
  const config = await loadConfig(args.config, relayConfig);
  const { privateKey, created } = await loadOrCreateIdentity(relativeTo(args.config, config.identity));
  const peerId = peerIdFromPrivateKey(privateKey).toString();
  process.stdout.write(
    `Wrote ${args.config} (every key with its default; edit country, payoutAddress and network.bootstrap).\n` +
      `${created ? 'Created' : 'Kept'} identity ${relativeTo(args.config, config.identity)} (mode 0600).\n` +
      `Peer id: ${peerId}\n` +
      `Start with: meadow relay start --config ${args.config}\n`,
  );
  return 0;
}
