import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildService, type LocalNetwork, startLocalNetwork } from '@meadow/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anotherGatewayConfig, curl, getJson, runMeadow, waitFor } from './harness.ts';
import { type PostgresServer, startPostgres } from './services/postgres.ts';

// Two gateway processes of one operator share customers, plans, usage and sticky sessions through
// PostgreSQL: a customer added once works at both, a quota counts the bytes of both, and a session
// keeps its relay whichever gateway its requests reach.

const QUOTA = 3_000_000;
let postgres: PostgresServer;
let net: LocalNetwork;
let dir: string;
let second: { service: ChildService; http: string; admin: string; configPath: string };

beforeAll(async () => {
  postgres = await startPostgres();
  dir = await mkdtemp(join(tmpdir(), 'meadow-shared-'));
  net = await startLocalNetwork({
    dir,
    relays: 2,
    customers: [{ name: 'shared', quotaBytes: QUOTA }],
    gatewayConfig: {
      customerStore: postgres.url,
      sessionStore: postgres.url,
      ledger: { store: postgres.url, epochSeconds: 3_600 },
    },
    // Each relay links to both gateways.
    relayConfig: { gateways: { keep: 2 } },
  });
  // The first gateway wrote the config's customers already; this one only reads them.
  const configPath = await anotherGatewayConfig(net.gateway.configPath, dir, 'gateway-2', { customers: [] });
  const service = new ChildService('gateway-2', ['gateway', 'start', '--config', configPath]);
  const ready = (await service.ready) as { http: string; admin: string };
  second = { service, http: ready.http, admin: ready.admin, configPath };
  await net.waitForRoutableRelays(2, 60_000);
  await waitFor(
    async () =>
      (await getJson<{ relays: Array<{ routable: boolean }> }>(`${ready.admin}/status`)).relays.filter(
        (r) => r.routable,
      ).length === 2,
    60_000,
  );
}, 180_000);

afterAll(async () => {
  await second?.service.stop();
  await net?.stop();
  await postgres?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Status and bytes received of one request through a gateway's HTTP proxy (curl's own -w). */
async function fetchVia(proxy: string, user: string, key: string, path: string) {
  const url = `${net.origin.url.replace(/\/$/, '')}/${path}`;
  const r = await curl([
    '-o',
    '/dev/null',
    '-w',
    '%{size_download}\n%{http_code}',
    '-x',
    `http://${proxy}`,
    '-U',
    `${user}:${key}`,
    url,
  ]);
  return { status: r.status, bytes: Number(r.body) };
}

async function account(proxy: string, user: string, key: string) {
  const r = await curl(['-u', `${user}:${key}`, `http://${proxy}/account`]);
  return JSON.parse(r.body) as { usage: { bytesFromTarget: number; quotaRemainingBytes: number | null } };
}

const first = () => `${net.gateway.http.host}:${net.gateway.http.port}`;

describe('customers shared by two gateways through PostgreSQL', () => {
  it('lets a customer added once with `meadow customer add` use both gateways within two seconds', async () => {
    const added = await runMeadow(['customer', 'add', '--config', second.configPath, '--name', 'acme', '--json']);
    expect(added.code, added.stderr).toBe(0);
    const { apiKey } = JSON.parse(added.stdout) as { apiKey: string };
    for (const proxy of [first(), second.http]) {
      await waitFor(async () => (await fetchVia(proxy, 'acme', apiKey, 'bytes/10')).status === 200, 5_000, proxy);
    }
    const list = await runMeadow(['customer', 'list', '--config', net.gateway.configPath]);
    expect(list.stdout).toMatch(/^acme\s+active/m);
  });

  it("counts one gateway's bytes against the quota at the other, and cuts the customer off at both", async () => {
    const { apiKey } = net.customers.shared as { apiKey: string };
    expect(await fetchVia(first(), 'shared', apiKey, 'bytes/2000000')).toEqual({ status: 200, bytes: 2_000_000 });
    // The second gateway learns of the first one's bytes within two flushes.
    await waitFor(async () => (await account(second.http, 'shared', apiKey)).usage.bytesFromTarget >= 2_000_000, 5_000);
    const remaining = (await account(second.http, 'shared', apiKey)).usage.quotaRemainingBytes as number;
    expect(remaining).toBeLessThan(QUOTA - 2_000_000);
    // What is left is less than this download: the second gateway cuts it at the quota.
    const cut = await fetchVia(second.http, 'shared', apiKey, 'bytes/2000000');
    expect(cut.status).toBe(200);
    expect(cut.bytes).toBeLessThan(remaining);
    // The first gateway reads the second one's bytes within two flushes; then both refuse.
    await waitFor(async () => (await account(first(), 'shared', apiKey)).usage.quotaRemainingBytes === 0, 5_000);
    expect((await fetchVia(first(), 'shared', apiKey, 'bytes/10')).status).toBe(402);
    expect((await fetchVia(second.http, 'shared', apiKey, 'bytes/10')).status).toBe(402);
    const usage = await runMeadow([
      'customer',
      'usage',
      '--config',
      net.gateway.configPath,
      '--name',
      'shared',
      '--json',
    ]);
    const [row] = JSON.parse(usage.stdout) as Array<{ bytesToTarget: number; bytesFromTarget: number }>;
    const total = (row?.bytesToTarget ?? 0) + (row?.bytesFromTarget ?? 0);
    expect(total).toBeGreaterThanOrEqual(2_000_000);
    expect(total).toBeLessThanOrEqual(QUOTA);
  });

  it("lists a customer's recent failures at every gateway on /account at either, the newest 20", async () => {
    const { name, apiKey } = net.customer;
    const failures = async (proxy: string) => {
      const r = await curl(['-u', `${name}:${apiKey}`, `http://${proxy}/account`]);
      return JSON.parse(r.body) as {
        recentFailures: Array<{ code: string; hop: string; target?: string; message: string; gateway?: string }>;
        recentFailuresFrom: string;
        gateway: string;
      };
    };
    // At the first gateway, a username the gateway refuses; at the second, a target the relay refuses.
    expect((await fetchVia(first(), `${name}-country-uk`, apiKey, 'bytes/10')).status).toBe(400);
    const forbidden = await curl(['-x', `http://${second.http}`, '-U', `${name}:${apiKey}`, 'http://127.0.0.1:1/']);
    expect(forbidden.status).toBe(403);
    for (const proxy of [first(), second.http])
      await waitFor(
        async () => (await failures(proxy)).recentFailures.length === 2,
        5_000,
        `both failures at ${proxy}`,
      );
    const atFirst = await failures(first());
    expect(atFirst.recentFailuresFrom).toBe('every gateway');
    // Each failure names the gateway it happened at, and the account the gateway that answered.
    const secondId = (await getJson<{ peerId: string }>(`${second.admin}/status`)).peerId;
    expect(atFirst.gateway).toBe(net.gateway.peerId);
    expect((await failures(second.http)).gateway).toBe(secondId);
    expect(atFirst.recentFailures.map((f) => [f.code, f.hop, f.target, f.gateway])).toEqual([
      ['MEADOW_ERR_TARGET_FORBIDDEN', 'relay', '127.0.0.1:1', secondId],
      ['MEADOW_ERR_BAD_USERNAME', 'gateway', undefined, net.gateway.peerId],
    ]);
    expect(atFirst.recentFailures[1]?.message).toMatch(/the code for United Kingdom is GB/);
    expect((await failures(second.http)).recentFailures).toEqual(atFirst.recentFailures);

    // Many more at the first gateway: each gateway lists the newest 20, and the table keeps no more.
    for (let i = 0; i < 24; i++)
      expect((await fetchVia(first(), `${name}-sesstime-${2_000 + i}`, apiKey, 'bytes/10')).status).toBe(400);
    await waitFor(
      async () => (await failures(second.http)).recentFailures[0]?.message.includes('2023') === true,
      5_000,
      'the newest failure at the second gateway',
    );
    const atSecond = await failures(second.http);
    expect(atSecond.recentFailures).toHaveLength(20);
    expect(atSecond.recentFailures.map((f) => f.message.match(/\b20\d\d\b/)?.[0])).toEqual(
      Array.from({ length: 20 }, (_, i) => String(2_023 - i)),
    );
    expect(await postgres.sql("SELECT count(*) FROM customer_failures WHERE name_key = 'demo'")).toMatch(/\b20\b/);
  });

  it.each([
    ['customerStore', { customerStore: 'postgres://meadow:s3cret@127.0.0.1:1/meadow' }],
    ['ledger.store', { ledger: { store: 'postgres://meadow:s3cret@127.0.0.1:1/meadow' } }],
    ['sessionStore', { sessionStore: 'postgres://meadow:s3cret@127.0.0.1:1/meadow' }],
  ])(
    'will not start with a %s it cannot reach, and says which key in one line, password hidden',
    async (key, change) => {
      const path = await anotherGatewayConfig(second.configPath, dir, `gateway-unreachable-${key}`, change);
      const run = await runMeadow(['gateway', 'start', '--config', path], 30_000);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(
        `meadow: ${key}: cannot open postgres://meadow:***@127.0.0.1:1/meadow: connect ECONNREFUSED 127.0.0.1:1`,
      );
      expect(run.stdout + run.stderr).not.toContain('s3cret');
      expect(run.stderr).not.toMatch(/^\s+at /m);
    },
  );

  it('refuses traffic at both while the database cannot take usage, and serves again once it can', async () => {
    const { apiKey } = net.customers.demo as { apiKey: string };
    await postgres.sql('ALTER TABLE customer_usage RENAME TO customer_usage_away');
    try {
      for (const proxy of [first(), second.http]) {
        await waitFor(async () => (await fetchVia(proxy, 'demo', apiKey, 'bytes/10')).status === 503, 5_000, proxy);
        const refused = await curl(['-x', `http://${proxy}`, '-U', `demo:${apiKey}`, `${net.origin.url}bytes/10`]);
        expect(refused.headers).toMatch(/x-meadow-error: MEADOW_ERR_METERING_UNAVAILABLE/i);
        expect(refused.body).toMatch(/usage store: .*customer_usage/);
      }
    } finally {
      await postgres.sql('ALTER TABLE customer_usage_away RENAME TO customer_usage');
    }
    // No tunnel was carried meanwhile, so nothing waits to be written: reading again must be enough.
    for (const proxy of [first(), second.http])
      await waitFor(async () => (await fetchVia(proxy, 'demo', apiKey, 'bytes/10')).status === 200, 5_000, proxy);
  });
});

describe('sticky sessions shared by two gateways through PostgreSQL', () => {
  const gateways = () => [first(), second.http];

  /** One request through a gateway's HTTP proxy: its status, exit relay and what it did to the session. */
  async function viaSession(proxy: string, session: string) {
    const { name, apiKey } = net.customer;
    const r = await curl([
      '-o',
      '/dev/null',
      '-x',
      `http://${proxy}`,
      '-U',
      `${name}-session-${session}:${apiKey}`,
      net.origin.url,
    ]);
    return {
      status: r.status,
      relay: /^x-meadow-relay: (\w+)\r?$/im.exec(r.headers)?.[1],
      outcome: /^x-meadow-session: (\w+)\r?$/im.exec(r.headers)?.[1],
      headers: r.headers,
    };
  }

  it('keeps a session on one relay whichever gateway its requests reach', async () => {
    const session = `alt${Date.now()}`;
    const results = [];
    for (let i = 0; i < 8; i++) results.push(await viaSession(gateways()[i % 2] as string, session));
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(new Set(results.map((r) => r.relay)).size).toBe(1);
    expect(results.map((r) => r.outcome)).toEqual(['bound', ...Array(7).fill('kept')]);
  });

  it('sends concurrent first requests at both gateways through one relay: one binds the session, the rest join it', async () => {
    for (let round = 0; round < 3; round++) {
      const session = `burst${round}t${Date.now()}`;
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => viaSession(gateways()[i % 2] as string, session)),
      );
      expect(results.map((r) => r.status)).toEqual(Array(8).fill(200));
      expect(new Set(results.map((r) => r.relay)).size, JSON.stringify(results)).toBe(1);
      expect(results.map((r) => r.outcome).sort()).toEqual(['bound', ...Array(7).fill('kept')]);
    }
  });

  it('moves a session at both gateways when its relay leaves: the first to notice moves it, the other follows', async () => {
    const session = `move${Date.now()}`;
    const before = await viaSession(first(), session);
    expect(before.outcome).toBe('bound');
    const leaving = net.relays.find((r) => r.peerId === before.relay);
    if (leaving == null) throw new Error(`no relay ${before.relay}`);
    await leaving.service.stop();
    try {
      // Both gateways see the link close; the second gateway's request moves the session.
      const moved = await viaSession(second.http, session);
      expect(moved).toMatchObject({ status: 200, outcome: 'moved' });
      expect(moved.relay).not.toBe(before.relay);
      const followed = await viaSession(first(), session);
      expect(followed).toMatchObject({ status: 200, outcome: 'kept', relay: moved.relay });
    } finally {
      await net.restartRelay(leaving); // replaces it in net.relays
      await net.waitForRoutableRelays(2, 60_000);
    }
  });

  it('is checked by `meadow gateway doctor`: shared, or a warning where customers are shared and sessions are not', async () => {
    const shared = await runMeadow(['gateway', 'doctor', '--config', second.configPath, '--json']);
    const sessions = (r: { stdout: string }) =>
      (JSON.parse(r.stdout) as { checks: Array<{ name: string }> }).checks.filter((c) => c.name === 'sessions');
    expect(sessions(shared)).toEqual([
      {
        name: 'sessions',
        verdict: 'ok',
        detail: `${postgres.url}: shared with every gateway that names it; 1 other gateway using it now`,
      },
    ]);
    const apart = await anotherGatewayConfig(second.configPath, dir, 'gateway-apart', { sessionStore: 'sessions.db' });
    expect(sessions(await runMeadow(['gateway', 'doctor', '--config', apart, '--json']))).toEqual([
      {
        name: 'sessions',
        verdict: 'warn',
        detail: `${join(dir, 'gateway-apart-data', 'sessions.db')}: this gateway's own, while its customers are shared through PostgreSQL`,
        fix: expect.stringContaining("set sessionStore to customerStore's URL"),
      },
    ]);
  });

  it('answers a session request 503 while the session store cannot answer, names it, and serves once it can', async () => {
    const failures = async (admin: string) => {
      const text = await (await fetch(`${admin}/metrics`)).text();
      return Number(/^meadow_gateway_session_store_failures_total\{operation="lookup"\} (\d+)$/m.exec(text)?.[1]);
    };
    const admins = [net.gateway.adminUrl, second.admin];
    const before = await Promise.all(admins.map(failures));
    expect(before.every((n) => Number.isInteger(n))).toBe(true);
    await postgres.sql('ALTER TABLE sticky_sessions RENAME TO sticky_sessions_away');
    try {
      for (const proxy of gateways()) {
        const refused = await viaSession(proxy, `down${Date.now()}`);
        expect(refused.status).toBe(503);
        expect(refused.headers).toMatch(/x-meadow-error: MEADOW_ERR_METERING_UNAVAILABLE/i);
      }
      const body = await curl([
        '-x',
        `http://${first()}`,
        '-U',
        `${net.customer.name}-session-down:${net.customer.apiKey}`,
        net.origin.url,
      ]);
      expect(body.body).toMatch(/sticky sessions unavailable: the session store did not answer \(.*sticky_sessions/);
      // Counted for the alert (MeadowGatewaySessionStoreFailing): two failed lookups at the first, one at the second.
      expect(await Promise.all(admins.map(failures))).toEqual([(before[0] as number) + 2, (before[1] as number) + 1]);
    } finally {
      await postgres.sql('ALTER TABLE sticky_sessions_away RENAME TO sticky_sessions');
    }
    for (const proxy of gateways()) expect((await viaSession(proxy, `up${Date.now()}`)).status).toBe(200);
    // Every lookup and claim of a shared store is timed.
    const metrics = await (await fetch(`${second.admin}/metrics`)).text();
    for (const operation of ['lookup', 'claim'])
      expect(
        Number(
          new RegExp(`^meadow_gateway_session_store_seconds_count\\{operation="${operation}"\\} (\\d+)$`, 'm').exec(
            metrics,
          )?.[1],
        ),
      ).toBeGreaterThan(0);
  });
});
