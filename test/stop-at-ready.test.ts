import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildService, type LocalNetwork, startLocalNetwork } from '@meadow/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// A supervisor (systemd, a test, `meadow demo`) may send SIGTERM the moment a service logs
// `ready`. Each service must already handle it then: stop gracefully and exit 0, not die of the
// signal with its stores open.

let net: LocalNetwork;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-stop-at-ready-'));
  net = await startLocalNetwork({ dir, relays: 1 });
}, 90_000);

afterAll(async () => {
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Starts `args` and sends SIGTERM from within the handler of its `ready` line. */
async function signalledAtReady(name: string, args: string[]): Promise<{ exit: unknown; lines: string[] }> {
  const lines: string[] = [];
  const service: ChildService = new ChildService(name, args, {
    onLine: (line) => {
      lines.push(String(line.msg));
      if (line.msg === 'ready') service.kill('SIGTERM');
    },
  });
  try {
    await service.ready;
    if (service.running) await once(service.process, 'exit');
  } finally {
    if (service.running) await service.stop(); // never ready: not left behind
  }
  return { exit: service.exitedWith, lines };
}

describe('a service signalled the moment it is ready', () => {
  it.each([
    ['origin', () => ['origin', '--host', '127.0.0.1', '--port', '0']],
    ['gateway', () => ['gateway', 'start', '--config', net.gateway.configPath]],
    ['relay', () => ['relay', 'start', '--config', net.relays[0]?.configPath ?? '']],
    ['bootstrap', () => ['bootstrap', '--config', join(dir, 'bootstrap.yaml')]],
  ])('%s stops gracefully and exits 0', async (role, args) => {
    // The running one steps aside, so the second start finds its identity, data and ports free.
    const running = {
      origin: net.origin.service,
      bootstrap: net.bootstrap.service,
      gateway: net.gateway.service,
      relay: net.relays[0]?.service,
    }[role];
    expect(await running?.stop()).toBe(0);
    const { exit, lines } = await signalledAtReady(`${role}-again`, args());
    expect({ exit, lines }).toEqual({ exit: 0, lines: expect.arrayContaining(['ready', 'stopping', 'stopped']) });
  });
});
