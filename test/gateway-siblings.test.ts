import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildService, type LocalNetwork, type LocalRelay, startLocalNetwork } from '@meadow/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anotherGatewayConfig, curl, getJson, runDoctor, waitFor } from './harness.ts';
import { type PostgresServer, startPostgres } from './services/postgres.ts';

// Three gateways of one operator share sticky sessions through PostgreSQL, and each relay keeps
// one gateway (`gateways.keep: 1`). A relay that links to one of them learns its siblings and
// links to them too, so a session finds its relay at whichever gateway a load balancer picks.

let postgres: PostgresServer;
let net: LocalNetwork;
let dir: string;
const more: Array<{ service: ChildService; http: string; admin: string }> = [];

interface GatewayStatus {
  relays: Array<{ peerId: string; routable: boolean }>;
}

const relayIdsAt = async (admin: string) =>
  (await getJson<GatewayStatus>(`${admin}/status`)).relays.filter((r) => r.routable).map((r) => r.peerId);

beforeAll(async () => {
  postgres = await startPostgres();
  dir = await mkdtemp(join(tmpdir(), 'meadow-siblings-'));
  net = await startLocalNetwork({
    dir,
    relays: 0,
    gatewayConfig: { customerStore: postgres.url, sessionStore: postgres.url },
    relayConfig: { gateways: { keep: 1 } },
  });
  for (const name of ['gateway-2', 'gateway-3']) {
    const configPath = await anotherGatewayConfig(net.gateway.configPath, dir, name, { customers: [] });
    const service = new ChildService(name, ['gateway', 'start', '--config', configPath]);
    const ready = (await service.ready) as { http: string; admin: string };
    more.push({ service, http: ready.http, admin: ready.admin });
  }
  // The relays start once all three gateways run, as they would join a network in service. (A
  // gateway that joins later is linked when relays next ask their gateways, within about a minute.)
  await net.addRelay();
  await net.addRelay();
}, 180_000);

afterAll(async () => {
  for (const gateway of more) await gateway.service.stop();
  await net?.stop();
  await postgres?.stop();
  if (dir != null) await rm(dir, { recursive: true, force: true });
});

const gateways = () => [
  { http: `${net.gateway.http.host}:${net.gateway.http.port}`, admin: net.gateway.adminUrl },
  ...more.map((g) => ({ http: g.http, admin: g.admin })),
];

describe('gateways that share sticky sessions, and relays that keep one gateway', () => {
  it('each relay links to all three: the one it found, then the siblings that one names', async () => {
    const relays = net.relays.map((r) => r.peerId).sort();
    for (const gateway of gateways())
      await waitFor(
        async () => JSON.stringify((await relayIdsAt(gateway.admin)).sort()) === JSON.stringify(relays),
        30_000,
        `both relays routable at ${gateway.admin}`,
      );
    for (const relay of net.relays) {
      const metrics = await (await fetch(`${relay.statusUrl}/metrics`)).text();
      expect(metrics).toMatch(/^meadow_relay_gateway_links 3$/m);
      // The household's dashboard shows them as one group: gateways.keep (1) counts it once.
      const status = await getJson<{ gateways: Array<{ group: number }> }>(`${relay.statusUrl}/status`);
      expect(status.gateways.map((g) => g.group)).toEqual([1, 1, 1]);
    }
  });

  it('serves a session from one relay whichever gateway each request reaches', async () => {
    const { name, apiKey } = net.customer;
    const seen: Array<{ exit: string; session: string }> = [];
    for (let i = 0; i < 9; i++) {
      const gateway = gateways()[i % 3] as { http: string };
      const r = await curl(['-x', `http://${gateway.http}`, '-U', `${name}-session-tri1:${apiKey}`, net.origin.url]);
      expect(r.status, r.body).toBe(200);
      seen.push({
        exit: (JSON.parse(r.body) as { youAre: string }).youAre,
        session: /^x-meadow-session: (\S+)/im.exec(r.headers)?.[1] ?? '',
      });
    }
    expect(new Set(seen.map((s) => s.exit)).size).toBe(1);
    expect(seen.map((s) => s.session)).toEqual(['bound', ...Array.from({ length: 8 }, () => 'kept')]);
  });

  it('the doctor names the siblings and warns of one the DHT does not list; a relay told of it still links the three', async () => {
    const check = async () => {
      const { report } = await runDoctor('gateway', net.gateway.configPath);
      return Object.fromEntries(report.checks.map((c) => [c.name, c]));
    };
    const healthy = await check();
    expect(healthy.sessions?.detail).toMatch(/shared with every gateway that names it; 2 other gateways using it now$/);
    expect(healthy.siblings).toMatchObject({
      verdict: 'ok',
      detail: 'relays that link here also link to 2 sibling gateways, each listed in the DHT',
    });
    // A peer that says it is a gateway of the group, but is no gateway in the DHT (a relay's id).
    const impostor = net.relays[0]?.peerId as string;
    await postgres.sql(`INSERT INTO session_gateways VALUES ('${impostor}', now())`);
    try {
      const warned = await check();
      expect(warned.siblings?.verdict).toBe('warn');
      expect(warned.siblings?.detail).toContain(
        `1 sibling gateway sharing the session store is not in the DHT (${impostor})`,
      );
      // A relay that joins now is told of it too: it links to the three gateways, and the named peer,
      // which no DHT lists as a gateway, is not dialled (nor could a link to a relay work).
      const late = await net.addRelay();
      const links = async () =>
        Number(
          /^meadow_relay_gateway_links (\d+)$/m.exec(await (await fetch(`${late.statusUrl}/metrics`)).text())?.[1],
        );
      await waitFor(async () => (await links()) === 3, 30_000, 'the late relay linked to the three gateways');
      await new Promise((resolve) => setTimeout(resolve, 6_000)); // a round of its link upkeep more
      expect(await links()).toBe(3);
      await late.service.stop();
    } finally {
      await postgres.sql(`DELETE FROM session_gateways WHERE peer_id = '${impostor}'`);
    }
  });

  it('a relay whose household set `gateways.siblings: 0` links to one gateway only', async () => {
    const lone: LocalRelay = await net.addRelay({ config: { gateways: { keep: 1, siblings: 0 } } });
    const linkedAt = async () =>
      (await Promise.all(gateways().map(async (g) => (await relayIdsAt(g.admin)).includes(lone.peerId)))).filter(
        Boolean,
      ).length;
    await waitFor(async () => (await linkedAt()) === 1, 60_000, 'the new relay linked');
    // Long enough for several rounds of its link upkeep (every 5 s).
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    expect(await linkedAt()).toBe(1);
    expect(await (await fetch(`${lone.statusUrl}/metrics`)).text()).toMatch(/^meadow_relay_gateway_links 1$/m);
  });
});
