import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { loadOrCreateIdentity } from '@meadow/discovery';
import type { BytesOnTheirWay, CheckedEarning, StatusBody } from '@meadow/relay';
import { fetch } from 'undici';
import { parse as parseYaml } from 'yaml';
import { ConfigError, loadConfig, relativeTo, relayConfig, validateConfig } from '../config.ts';
import { readStatusUrl } from '../relay-status-file.ts';
import { relayStatusText } from '../relay-status-text.ts';
import { relayConfigTemplate } from '../relay-template.ts';

async function localApi(configPath: string): Promise<{ url: string; token: string }> {
  const config = await loadConfig(configPath, relayConfig);
  const dataDir = relativeTo(configPath, config.dataDir);
  const url = (await readStatusUrl(dataDir)) ?? `http://${config.status.host}:${config.status.port}`;
  const token = (await readFile(join(dataDir, 'control.token'), 'utf8').catch(() => '')).trim();
  return { url, token };
}

/** `meadow relay pause|resume`: asks the running relay through its local API, with its control token. */
export async function relayControlCommand(action: 'pause' | 'resume', configPath: string): Promise<number> {
  const { url, token } = await localApi(configPath);
  const body = await ask(configPath, url, action, () =>
    fetch(`${url}/control/${action}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } }),
  );
  if (body == null) return 1;
  process.stdout.write(`relay is ${String(body.state)}: ${String(body.reason)}\n`);
  return 0;
}

/** `meadow relay status`: the running relay's state, usage, caps and quality, for people or (`--json`) scripts. */
export async function relayStatusCommand(configPath: string, options: { json?: boolean }): Promise<number> {
  const { url } = await localApi(configPath);
  const body = await ask(configPath, url, 'status', () => fetch(`${url}/status`));
  if (body == null) return 1;
  if (options.json) {
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    return 0;
  }
  const earnings = await ask(configPath, url, 'earnings', () => fetch(`${url}/earnings`));
  if (earnings == null) return 1;
  const { epochs, bytes } = earnings as { epochs: CheckedEarning[]; bytes?: BytesOnTheirWay[] };
  process.stdout.write(relayStatusText(body as unknown as StatusBody, epochs, url, bytes));
  return 0;
}

/** The relay's JSON answer, or undefined after saying on stderr why there is none. */
async function ask(
  configPath: string,
  url: string,
  action: string,
  request: () => ReturnType<typeof fetch>,
): Promise<Record<string, unknown> | undefined> {
  let res: Awaited<ReturnType<typeof fetch>>;
  try {
    res = await request();
  } catch (err) {
    // undici says "fetch failed"; the reason is the cause's code (ECONNREFUSED: nothing listens).
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code === 'ECONNREFUSED' ? 'nothing listens there' : (cause?.code ?? (err as Error).message);
    process.stderr.write(
      `meadow: the relay is not answering at ${url} (${why}). Is it running? Start it with: meadow relay start --config ${configPath}\n`,
    );
    return undefined;
  }
  const body = (await res.json()) as Record<string, unknown>;
  if (!res.ok) {
    process.stderr.write(`meadow: ${action} failed: ${String(body.error ?? res.status)}\n`);
    return undefined;
  }
  return body;
}

/** The flag of `relay init` that filled this config key, else the key. */
function initFlag(key: string): string {
  if (key === 'country') return '--country';
  if (key === 'payoutAddress') return '--payout';
  if (key.startsWith('network.bootstrap')) return '--bootstrap';
  return key;
}

export async function relayInitCommand(args: {
  config: string;
  country: string;
  payoutAddress: string;
  bootstrap: string[];
}): Promise<number> {
  const existing = await readFile(args.config).catch(() => undefined);
  if (existing != null) throw new ConfigError(`${args.config} already exists: not overwriting it`);
  const text = relayConfigTemplate(args);
  // Checked before anything is written: a file with a bad value would block the corrected rerun.
  const checked = validateConfig(relayConfig, parseYaml(text), args.config);
  if (!checked.ok) {
    const lines = checked.error.issues.map((i) => `  ${initFlag(i.key)}: ${i.message}`);
    throw new ConfigError(`relay init: nothing written\n${lines.join('\n')}`, checked.error.issues);
  }
  const config = checked.config;
  await writeFile(args.config, text, { flag: 'wx' });
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
