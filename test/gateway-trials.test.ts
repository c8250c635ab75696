import { mkdtemp, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildService, type LocalNetwork, type LocalRelay, startLocalNetwork } from '@meadow/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anotherGatewayConfig, curl, getJson, httpConnect, waitFor } from './harness.ts';

// Two gateways of different operators (each with its own customers) and a relay that keeps one
// (`gateways.keep: 1`) and tries another every 4 s (`gateways.trialEveryMs`). Without trials the
// relay stayed with the gateway it found first, and a gateway that joined later never got it, though
// only that one had crawlers.

const TRIAL_MS = 4_000;

let net: LocalNetwork;
let dir: string;
let relay: LocalRelay;
let joined: { service: ChildService; http: { host: string; port: number }; admin: string };

interface GatewayStatus {
  relays: Array<{ peerId: string; routable: boolean }>;
}
interface RelayStatus {
  gateways: Array<{ peerId: string; onTrial: boolean; leaving: boolean }>;
}

const relaysAt = async (admin: string) => (await getJson<GatewayStatus>(`${admin}/status`)).relays;
const gatewayId = async (admin: string) => (await getJson<{ peerId: string }>(`${admin}/status`)).peerId;
const trialOutcomes = async () => {
  const text = await (await fetch(`${relay.statusUrl}/metrics`)).text();
  const count = (outcome: string) =>
    Number(new RegExp(`^meadow_relay_gateway_trials_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
  return { stayed: count('stayed'), letGo: count('let_go') };
};

/** Requests through a gateway every 200 ms until stopped; counts answers by status. */
function crawlThrough(proxy: { host: string; port: number }) {
  const statuses: number[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      const r = await curl([
        '-x',
        `http://${proxy.host}:${proxy.port}`,
        '-U',
        `${net.customer.name}:${net.customer.apiKey}`,
        new URL('/bytes/65536', net.origin.url).href,
      ]);
      statuses.push(r.status);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  return {
    statuses,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-trials-'));
  net = await startLocalNetwork({
    dir,
    relays: 0,
    relayConfig: { gateways: { keep: 1, trialEveryMs: TRIAL_MS } },
  });
  relay = await net.addRelay();
  await waitFor(
    async () => (await relaysAt(net.gateway.adminUrl)).some((r) => r.peerId === relay.peerId && r.routable),
    30_000,
    'the relay routable at the first gateway',
  );
  // The second operator's gateway joins a network whose only relay is linked already.
  const configPath = await anotherGatewayConfig(net.gateway.configPath, dir, 'gateway-b');
  const service = new ChildService('gateway-b', ['gateway', 'start', '--config', configPath]);
  const ready = (await service.ready) as { http: string; admin: string };
  const [host, port] = ready.http.split(':');
  joined = { service, http: { host: host as string, port: Number(port) }, admin: ready.admin };
}, 120_000);

afterAll(async () => {
  await joined?.service.stop();
  await net?.stop();
  if (dir != null) await rm(dir, { recursive: true, force: true });
});

describe('a relay that keeps one gateway tries others and stays with the one that has work for it', () => {
  it('moves to the gateway that joined later when only its crawlers use the relay; open tunnels at the old one finish first', async () => {
    const [first, second] = [await gatewayId(net.gateway.adminUrl), await gatewayId(joined.admin)];
    const crawl = crawlThrough(joined.http);
    let opened: Socket | undefined;
    try {
      // A tunnel through the first gateway, opened before the relay tries the second, and held open.
      const held = await httpConnect(
        net.gateway.http,
        { username: net.customer.name, password: net.customer.apiKey },
        new URL(net.origin.url).host,
      );
      opened = held;
      await waitFor(
        async () => (await getJson<RelayStatus>(`${relay.statusUrl}/status`)).gateways.some((g) => g.peerId === second),
        5 * TRIAL_MS + 10_000,
        'the relay linked to the second gateway on trial',
      );
      // The trial ends: the first gateway carried nothing meanwhile, so it is let go, but the link
      // stays until the held tunnel ends, and the first gateway opens no new tunnel over it.
      await waitFor(
        async () =>
          (await getJson<RelayStatus>(`${relay.statusUrl}/status`)).gateways.some(
            (g) => g.peerId === first && g.leaving,
          ),
        2 * TRIAL_MS + 10_000,
        'the first gateway let go',
      );
      await waitFor(
        async () => (await relaysAt(net.gateway.adminUrl)).some((r) => r.peerId === relay.peerId && !r.routable),
        5_000,
        'the first gateway told (it keeps the link, routes nothing new over it)',
      );
      const refused = await curl([
        '-x',
        `http://${net.gateway.http.host}:${net.gateway.http.port}`,
        '-U',
        `${net.customer.name}:${net.customer.apiKey}`,
        net.origin.url,
      ]);
      expect(refused.status).toBe(503);
      expect(refused.body).toContain('moving to another gateway');
      held.write(`GET /bytes/1000 HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n`);
      let answer = '';
      held.setEncoding('latin1');
      held.on('data', (chunk: string) => {
        answer += chunk;
      });
      await new Promise((resolve) => held.once('close', resolve));
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
      await waitFor(
        async () => !(await relaysAt(net.gateway.adminUrl)).some((r) => r.peerId === relay.peerId),
        10_000,
        'the first gateway no longer lists the relay',
      );
      const status = await getJson<RelayStatus>(`${relay.statusUrl}/status`);
      expect(status.gateways.map((g) => g.peerId)).toEqual([second]);
      expect((await trialOutcomes()).stayed).toBe(1);
      const gatewayMetrics = await (await fetch(`${net.gateway.adminUrl}/metrics`)).text();
      expect(gatewayMetrics).toMatch(/^meadow_gateway_relays_moving_total 1$/m);
    } finally {
      opened?.destroy(); // closed by the origin when the test passes; on a failure, not left open
      await crawl.stop();
    }
    // Before the relay came, the second gateway could only refuse; once it came, every request worked.
    const firstOk = crawl.statuses.indexOf(200);
    expect(firstOk).toBeGreaterThanOrEqual(0);
    expect(crawl.statuses.slice(0, firstOk).every((s) => s === 503)).toBe(true);
    expect(
      crawl.statuses.slice(firstOk).every((s) => s === 200),
      crawl.statuses.join(' '),
    ).toBe(true);
  }, 90_000);

  it('lets a tried gateway with no work go again and never drops the one whose crawlers use it', async () => {
    const second = await gatewayId(joined.admin);
    const crawl = crawlThrough(joined.http);
    let dropped = false;
    const watch = setInterval(() => {
      void relaysAt(joined.admin).then(
        (relays) => {
          if (!relays.some((r) => r.peerId === relay.peerId && r.routable)) dropped = true;
        },
        () => {},
      );
    }, 250);
    try {
      // The first gateway, let go above, rests for two to six intervals before it is tried again.
      await waitFor(async () => (await trialOutcomes()).letGo >= 1, 10 * TRIAL_MS + 15_000, 'a trial ended in let_go');
    } finally {
      clearInterval(watch);
      await crawl.stop();
    }
    expect(dropped).toBe(false);
    expect(
      crawl.statuses.every((s) => s === 200),
      crawl.statuses.join(' '),
    ).toBe(true);
    await waitFor(
      async () =>
        JSON.stringify((await getJson<RelayStatus>(`${relay.statusUrl}/status`)).gateways.map((g) => g.peerId)) ===
        JSON.stringify([second]),
      10_000,
      'the relay linked to the second gateway only',
    );
  }, 90_000);
});
