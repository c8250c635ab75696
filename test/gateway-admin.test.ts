import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildService, type LocalNetwork, startLocalNetwork } from '@meadow/cli';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl, runMeadow, waitFor } from './harness.ts';

// The admin API lists customers and their usage: with a token, nothing answers without it, and a
// gateway will not put it on a non-loopback address without one.

let net: LocalNetwork;
let dir: string;
const token = randomBytes(24).toString('hex');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-admin-'));
  net = await startLocalNetwork({ dir, relays: 1, adminToken: token });
  await net.waitForRoutableRelays(1, 60_000); // through the token: the launcher sends it
});

afterAll(async () => {
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
});

const get = (path: string, authorization?: string) =>
  fetch(`${net.gateway.adminUrl}${path}`, { headers: authorization == null ? {} : { authorization } });
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('gateway admin API with a token', () => {
  it.each(['/', '/network', '/status', '/usage', '/customers/demo', '/metrics', '/nowhere'])(
    'answers %s with 401 and a Basic challenge without the token, or with a wrong one',
    async (path) => {
      for (const authorization of [undefined, `Bearer ${token.slice(1)}`, basic('ops', 'guess'), 'Token x']) {
        const res = await get(path, authorization);
        expect(res.status, String(authorization)).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe('Basic realm="meadow gateway admin", charset="UTF-8"');
        const body = await res.text();
        expect(body).toContain('the admin token is missing or wrong');
        expect(body).not.toContain(net.gateway.peerId); // not a byte of what the API guards
      }
    },
  );

  it('answers with the token as a bearer token (Prometheus) or as a Basic password (a browser)', async () => {
    const usage = await get('/usage', `Bearer ${token}`);
    expect(usage.status).toBe(200);
    expect(await usage.json()).toEqual({ customers: expect.any(Object), relays: expect.any(Object) });
    const status = (await (await get('/status', `Bearer ${token}`)).json()) as { peerId: string };
    expect(status.peerId).toBe(net.gateway.peerId);
    const metrics = await get('/metrics', `Bearer ${token}`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^meadow_build_info\{/m);
    const page = await get('/', basic('anyone', token));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
  });

  it("shows an operator a customer's account as the customer sees it, failures included", async () => {
    // A tunnel the relay refuses (loopback), over the HTTP proxy.
    const proxy = `http://127.0.0.1:${net.gateway.http.port}`;
    const refused = await curl(['-x', proxy, '--proxy-user', `demo:${net.customer.apiKey}`, 'http://127.0.0.1:1/']);
    expect(refused.status).toBe(403);
    const res = await get('/customers/demo', `Bearer ${token}`);
    expect(res.status).toBe(200);
    const account = (await res.json()) as { customer: string; recentFailures: Array<{ code: string; target: string }> };
    expect(account.customer).toBe('demo');
    expect(account.recentFailures[0]).toMatchObject({ code: 'MEADOW_ERR_TARGET_FORBIDDEN', target: '127.0.0.1:1' });
    expect((await get('/customers/nobody', `Bearer ${token}`)).status).toBe(404);
    expect((await get('/customers/%E0%A4%A', `Bearer ${token}`)).status).toBe(404);
    expect((await get('/status', `Bearer ${token}`)).status).toBe(200); // still up
  });

  it('answers /ready without the token (for load balancers): 503 and why while no tunnel could open', async () => {
    const ready = await get('/ready');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, reasons: [] });
    expect((await fetch(`${net.gateway.adminUrl}/ready`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${net.gateway.adminUrl}/ready`, { method: 'POST' })).status).toBe(401);
    const relay = net.relays[0]?.configPath as string;
    expect((await runMeadow(['relay', 'pause', '--config', relay])).code).toBe(0);
    try {
      await waitFor(async () => (await get('/ready')).status === 503, 15_000, 'not ready once the relay pauses');
      // What it says names no relay, store or customer: it answers anyone who reaches the port.
      expect(await (await get('/ready')).json()).toEqual({ ready: false, reasons: ['no routable relay'] });
    } finally {
      expect((await runMeadow(['relay', 'resume', '--config', relay])).code).toBe(0);
    }
    await waitFor(async () => (await get('/ready')).status === 200, 15_000, 'ready again');
  });
});

describe('gateway admin address', () => {
  it('refuses a non-loopback admin address without a token file, and a short token', async () => {
    const config = join(dir, 'open-admin.yaml');
    const base = `identity: ${join(dir, 'other.key')}\nnetwork: {}\n`;
    await writeFile(config, `${base}admin: { host: 0.0.0.0, port: 0 }\n`);
    const open = await runMeadow(['gateway', 'start', '--config', config]);
    expect(open.code).toBe(2);
    expect(open.stderr).toContain(
      'admin.tokenFile: is required when admin.host is not a loopback address: the admin API lists customers and their usage',
    );
    expect(open.stdout).not.toContain('"msg":"ready"');

    await writeFile(join(dir, 'short.token'), 'abc\n');
    await writeFile(config, `${base}admin: { host: 127.0.0.1, port: 0, tokenFile: short.token }\n`);
    const short = await runMeadow(['gateway', 'start', '--config', config]);
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('must hold one token of at least 16 characters');
    expect(short.stdout).not.toContain('"msg":"ready"');
  });
});

describe('a gateway without customers', () => {
  it('says so at start, with the command that adds one', async () => {
    const config = join(dir, 'no-customers.yaml');
    await writeFile(
      config,
      `identity: ${join(dir, 'lonely.key')}\ndataDir: ${join(dir, 'lonely-data')}\nnetwork: { listen: [/ip4/127.0.0.1/tcp/0] }\nsocks: { port: 0 }\nhttp: { port: 0 }\nadmin: { port: 0 }\n`,
    );
    const gateway = new ChildService('gateway', ['gateway', 'start', '--config', config]);
    try {
      expect(await gateway.ready).toMatchObject({ customers: 0 });
      await waitFor(() => gateway.tail().includes('no active customer yet'), 10_000, 'the warning');
      expect(gateway.tail()).toContain(`"fix":"meadow customer add --config ${config} --name <name>"`);
    } finally {
      await gateway.stop();
    }
  });
});

describe('bootstrap metrics with a token', () => {
  it('answers /metrics only with the token, and refuses an address off loopback without one', async () => {
    const config = join(dir, 'bootstrap-metrics.yaml');
    const base = `identity: ${join(dir, 'bs.key')}\nnetwork: { listen: [/ip4/127.0.0.1/tcp/0], allowPrivateAddresses: true }\n`;
    await writeFile(config, `${base}metrics: { host: 0.0.0.0, port: 0 }\n`);
    const open = await runMeadow(['bootstrap', '--config', config]);
    expect(open.code).toBe(2);
    expect(open.stderr).toContain('metrics.tokenFile: is required when metrics.host is not a loopback address');

    await writeFile(join(dir, 'metrics.token'), `${token}\n`);
    await writeFile(config, `${base}metrics: { host: 127.0.0.1, port: 0, tokenFile: metrics.token }\n`);
    const node = new ChildService('bootstrap', ['bootstrap', '--config', config]);
    try {
      const { metricsUrl } = (await node.ready) as { metricsUrl: string };
      const without = await fetch(metricsUrl);
      expect(without.status).toBe(401);
      expect(without.headers.get('www-authenticate')).toBe('Basic realm="meadow bootstrap metrics", charset="UTF-8"');
      expect(await without.text()).not.toContain('meadow_');
      expect((await fetch(metricsUrl, { headers: { authorization: `Bearer ${token}x` } })).status).toBe(401);
      const scraped = await fetch(metricsUrl, { headers: { authorization: `Bearer ${token}` } });
      expect(scraped.status).toBe(200);
      expect(await scraped.text()).toMatch(/^meadow_dht_connected_peers /m);
    } finally {
      await node.stop();
    }
  });
});

describe('a node with no public address to announce', () => {
  it('warns at start, naming network.announce, and refuses a private address in network.announce', async () => {
    const config = join(dir, 'bootstrap-private.yaml');
    const base = `identity: ${join(dir, 'bs-private.key')}\n`;
    await writeFile(config, `${base}network: { listen: [/ip4/127.0.0.1/tcp/0] }\n`);
    const node = new ChildService('bootstrap', ['bootstrap', '--config', config]);
    try {
      await node.ready;
      await waitFor(() => node.tail().includes('no public address to announce'), 10_000, 'the warning');
      expect(node.tail()).toContain('"key":"network.announce"');
      expect(node.tail()).toContain('peers find it and cannot dial it');
    } finally {
      await node.stop();
    }

    await writeFile(config, `${base}network: { listen: [/ip4/127.0.0.1/tcp/0], announce: [/ip4/10.0.0.5/tcp/4001] }\n`);
    const refused = await runMeadow(['bootstrap', '--config', config]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      'network.announce.0: is a private address (loopback, LAN or a documentation range), which the DHT drops: for a network on one machine or a LAN set network.allowPrivateAddresses: true; otherwise name the address or /dns4 name the internet reaches this node at',
    );

    // A network on one machine says so, and hears nothing of it.
    await writeFile(config, `${base}network: { listen: [/ip4/127.0.0.1/tcp/0], allowPrivateAddresses: true }\n`);
    const local = new ChildService('bootstrap', ['bootstrap', '--config', config]);
    try {
      await local.ready;
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(local.tail()).not.toContain('no public address');
    } finally {
      await local.stop();
    }
  });
});
