import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildService, type GatewayConfig, type LocalNetwork, startLocalNetwork } from '@meadow/cli';
import { loadOrCreateIdentity } from '@meadow/discovery';
import { openLedgerStore } from '@meadow/ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anotherGatewayConfig, configVariant, type DoctorReport, runDoctor, runMeadow, waitFor } from './harness.ts';
import { freePort } from './services/free-port.ts';
import { expiredCertificate, selfSignedCertificate } from './services/self-signed.ts';

const ADMIN_TOKEN = 'doctor-test-admin-token-0123456789';

let net: LocalNetwork;
let dir: string;
let httpsPort: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-gateway-doctor-'));
  const certificate = await selfSignedCertificate(dir, 'meadow-test', '', 90);
  await chmod(certificate.keyFile, 0o600);
  httpsPort = await freePort();
  net = await startLocalNetwork({
    dir,
    relays: 1,
    countries: ['NL'],
    adminToken: ADMIN_TOKEN,
    gatewayConfig: {
      https: { host: '127.0.0.1', port: httpsPort, certFile: certificate.certFile, keyFile: certificate.keyFile },
      // Epochs close every second, so that the ledger check has a chain to describe.
      ledger: { epochSeconds: 1 },
    },
  });
  await net.waitForRoutableRelays(1, 60_000);
}, 90_000);

afterAll(async () => {
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
});

const variant = (name: string, change: (config: GatewayConfig) => void) =>
  configVariant(net.gateway.configPath, dir, name, change);

async function doctor(config: string) {
  const run = await runDoctor('gateway', config);
  expect(run.stderr).toBe('');
  return run;
}

const check = (r: DoctorReport, name: string) => r.checks.filter((c) => c.name === name);
const verdicts = (r: DoctorReport, name: string) => check(r, name).map((c) => c.verdict);

const port = (url: string) => Number(new URL(url).port);

describe('meadow gateway doctor', () => {
  it('passes every check for a running, listed gateway, one line per check', async () => {
    const store = await openLedgerStore(join(dir, 'gateway-data', 'ledger.db'));
    try {
      await waitFor(async () => (await store.lastOfKind(net.gateway.peerId, 'epoch')) != null, 20_000, 'an epoch');
    } finally {
      await store.close();
    }
    const { code, report, text } = await doctor(net.gateway.configPath);
    expect(code, text).toBe(0);
    for (const name of [
      'config',
      'identity',
      'data folder',
      'clock',
      'https',
      'admin',
      'customers',
      'sessions',
      'ledger',
      'geoip',
      'ports',
      'bootstrap',
      'listed',
      'reachable',
      'outside',
      'running',
    ])
      expect(verdicts(report, name), `${name}: ${text}`).toEqual(['ok']);
    expect(check(report, 'https')[0]?.detail).toMatch(/^CN=meadow-test, valid for 89 more days$/);
    expect(check(report, 'admin')[0]?.detail).toMatch(
      /^127\.0\.0\.1:\(any free port\), token required \(.*admin\.token, mode 600\)$/,
    );
    expect(check(report, 'customers')[0]?.detail).toMatch(/customers\.db: 1 active customer$/);
    expect(check(report, 'sessions')[0]?.detail).toMatch(/sessions\.db: this gateway's own$/);
    expect(check(report, 'ledger')[0]?.detail).toMatch(
      /ledger\.db: \d+ entries in this gateway's chain, epoch \d+ closed at \d{4}-\d\d-\d\dT/,
    );
    expect(check(report, 'geoip')[0]?.detail).toBe('DB-IP country lite (built in): 8.8.8.8 is in US');
    expect(check(report, 'listed')[0]?.detail).toBe(`relays find this gateway in the DHT (${net.gateway.peerId})`);
    expect(check(report, 'reachable')[0]?.detail).toMatch(
      /^a relay's dial from this machine reaches it at \/ip4\/127\.0\.0\.1\/tcp\/\d+ \(\d+ ms\)$/,
    );
    expect(check(report, 'outside')[0]?.detail).toMatch(
      /^a dial from the bootstrap node \(seeing this machine as 127\.0\.0\.1\) reaches it at \/ip4\/127\.0\.0\.1\/tcp\/\d+ \(\d+ ms\)$/,
    );
    expect(check(report, 'running')[0]?.detail).toMatch(
      new RegExp(
        `^ready at ${net.gateway.adminUrl} \\(pid \\d+, since .+\\); 1 of 1 linked relays routable \\(NL 1\\), 0 open tunnels$`,
      ),
    );
    expect(text).toMatch(/^✓ running +ready at /m);
    expect(text).toMatch(/\nNo problem found\.\n$/);
  });

  it('knows the ports the running gateway holds, and names a port another program holds', async () => {
    // The running gateway's own ports, as a config with fixed ports names them.
    const own = await variant('own-ports.yaml', (c) => {
      c.socks = { host: '127.0.0.1', port: net.gateway.socks.port };
      c.http = { host: '127.0.0.1', port: net.gateway.http.port };
      c.admin = { ...c.admin, host: '127.0.0.1', port: port(net.gateway.adminUrl) };
    });
    const held = await doctor(own);
    expect(held.code, held.text).toBe(0);
    expect(check(held.report, 'ports')).toEqual([
      {
        name: 'ports',
        verdict: 'ok',
        detail: `held by this gateway: socks 127.0.0.1:${net.gateway.socks.port}, http 127.0.0.1:${net.gateway.http.port}, admin 127.0.0.1:${port(net.gateway.adminUrl)}, https 127.0.0.1:${httpsPort}; any free port at start: network.listen.0`,
      },
    ]);

    // Another program on two of the ports: a bare TCP listener, and an HTTP server on the admin port
    // that answers /ready as Prometheus does, not as a gateway.
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const taken = (squatter.address() as { port: number }).port;
    const impostor = createHttpServer((_req, res) => res.end('Prometheus Server is Ready.\n'));
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
    const impostorPort = (impostor.address() as { port: number }).port;
    try {
      const clash = await variant('clash.yaml', (c) => {
        c.dataDir = join(dir, 'clash-data'); // no gateway.json: the doctor asks the admin port in the config
        c.https = undefined;
        c.socks = { host: '127.0.0.1', port: taken };
        c.http = { host: '192.0.2.1', port: 8080 }; // TEST-NET-1: no address of this machine
        c.admin = { ...c.admin, host: '127.0.0.1', port: impostorPort };
      });
      const { code, report, text } = await doctor(clash);
      expect(code).toBe(1);
      expect(check(report, 'ports')).toEqual([
        {
          name: 'ports',
          verdict: 'fail',
          detail: `socks: another program listens on 127.0.0.1:${taken}`,
          fix: `find it with \`ss -ltnp 'sport = :${taken}'\` and stop it, or set socks.port to a free port`,
        },
        {
          name: 'ports',
          verdict: 'fail',
          detail: 'http: 192.0.2.1 is not an address of this machine',
          fix: 'use one of its addresses (ip -brief address), or 0.0.0.0 for all of them',
        },
        {
          name: 'ports',
          verdict: 'fail',
          detail: `admin: another program listens on 127.0.0.1:${impostorPort}`,
          fix: expect.stringContaining('or set admin.port to a free port'),
        },
        { name: 'ports', verdict: 'ok', detail: 'any free port at start: network.listen.0' },
      ]);
      expect(check(report, 'running')[0]).toMatchObject({
        verdict: 'warn',
        detail: `http://127.0.0.1:${impostorPort} answers, but not as a Meadow gateway (GET /ready: HTTP 200)`,
      });
      expect(text).toMatch(/\n3 problems found, \d+ warnings?\.\n$/);
    } finally {
      squatter.close();
      impostor.close();
    }
  });

  it('dials each address the DHT lists for the gateway, as a relay does, and names the ones that do not answer', async () => {
    const listen = `/ip4/127.0.0.1/tcp/${await freePort()}`;
    const dead = `/ip4/127.0.0.1/tcp/${await freePort()}`; // nothing listens there
    const announcing = async (name: string, announce: string[]) => {
      const config = await anotherGatewayConfig(net.gateway.configPath, dir, name, { https: undefined });
      await configVariant<GatewayConfig>(config, dir, `${name}.yaml`, (c) => {
        c.network = { ...c.network, listen: name === 'half-dead' ? [listen] : c.network.listen, announce };
      });
      const service = new ChildService(name, ['gateway', 'start', '--config', config]);
      await service.ready;
      return { config, service };
    };
    const halfDead = await announcing('half-dead', [listen, dead]);
    // The bootstrap node's address: a node answers there, with another key than the gateway's.
    const bootstrap = net.bootstrap.multiaddr.split('/p2p/')[0] as string;
    const allDead = await announcing('all-dead', [dead, bootstrap]);
    try {
      const half = await doctor(halfDead.config);
      expect(verdicts(half.report, 'listed'), half.text).toEqual(['ok']);
      expect(check(half.report, 'reachable')).toEqual([
        {
          name: 'reachable',
          verdict: 'warn',
          detail: expect.stringMatching(
            new RegExp(
              `^a relay's dial reaches it at ${listen} \\(\\d+ ms\\), but not at ${dead}: connection refused \\(nothing listens there\\)$`,
            ),
          ),
          fix: expect.stringContaining('relays try the listed addresses in turn'),
        },
      ]);
      // The bootstrap node dials back from its side (here the same machine, the same answers).
      expect(check(half.report, 'outside')).toEqual([
        {
          name: 'outside',
          verdict: 'warn',
          detail: expect.stringMatching(
            new RegExp(
              `^a dial from the bootstrap node \\(seeing this machine as 127\\.0\\.0\\.1\\) reaches it at ${listen} \\(\\d+ ms\\), but not at ${dead}: connection refused \\(nothing listens there\\)$`,
            ),
          ),
          fix: expect.stringContaining('let TCP in to the port from the internet'),
        },
      ]);

      const none = await doctor(allDead.config);
      expect(verdicts(none.report, 'listed'), none.text).toEqual(['ok']);
      const [unreachable] = check(none.report, 'reachable');
      expect(unreachable).toMatchObject({
        verdict: 'fail',
        fix: expect.stringContaining('network.announce must name the address and port relays can dial'),
      });
      const prefix = "no address the DHT lists for this gateway answers a relay's dial: ";
      expect(unreachable?.detail.startsWith(prefix), unreachable?.detail).toBe(true);
      expect(unreachable?.detail.slice(prefix.length).split('; ').sort()).toEqual(
        [
          `${dead}: connection refused (nothing listens there)`,
          `${bootstrap}: another node answers there (${net.bootstrap.peerId})`,
        ].sort(),
      );
      const [outside] = check(none.report, 'outside');
      expect(outside).toMatchObject({ verdict: 'fail', fix: expect.stringContaining('let TCP in to the port') });
      const outsidePrefix =
        'a dial from the bootstrap node (seeing this machine as 127.0.0.1) reaches it at no listed address: ';
      expect(outside?.detail.startsWith(outsidePrefix), outside?.detail).toBe(true);
      expect(outside?.detail.slice(outsidePrefix.length).split('; ').sort()).toEqual(
        [
          `${dead}: connection refused (nothing listens there)`,
          `${bootstrap}: another node answers there (${net.bootstrap.peerId})`,
        ].sort(),
      );
      expect(none.code).toBe(1);
    } finally {
      await halfDead.service.stop();
      await allDead.service.stop();
    }
  });

  it('says why a running gateway is not ready, and where to look', async () => {
    const relay = net.relays[0]?.configPath as string;
    expect((await runMeadow(['relay', 'pause', '--config', relay])).code).toBe(0);
    try {
      await waitFor(async () => (await fetch(`${net.gateway.adminUrl}/ready`)).status === 503, 30_000, '/ready 503');
      const { code, report } = await doctor(net.gateway.configPath);
      expect(code).toBe(1);
      expect(check(report, 'running')).toEqual([
        {
          name: 'running',
          verdict: 'fail',
          detail: 'not ready for crawlers (no routable relay); 0 of 1 linked relays routable, 0 open tunnels',
          fix: expect.stringContaining('run `meadow relay doctor` on a relay'),
        },
      ]);
    } finally {
      expect((await runMeadow(['relay', 'resume', '--config', relay])).code).toBe(0);
      await net.waitForRoutableRelays(1, 30_000);
    }
  });

  it("finds nothing wrong with a gateway not started yet, and tells a killed gateway's gateway.json from a running one", async () => {
    const fresh = await variant('fresh.yaml', (c) => {
      c.identity = join(dir, 'fresh.key');
      c.dataDir = join(dir, 'fresh-data');
      c.https = undefined;
      c.admin = { host: '127.0.0.1', port: 0 };
    });
    const { code, report, text } = await doctor(fresh);
    expect(code, text).toBe(0);
    expect(check(report, 'identity')).toEqual([
      {
        name: 'identity',
        verdict: 'warn',
        detail: `no key at ${join(dir, 'fresh.key')}`,
        fix: expect.stringContaining('the first `meadow gateway start` creates it'),
      },
    ]);
    expect(check(report, 'customers')[0]).toMatchObject({
      verdict: 'ok',
      detail: `${join(dir, 'fresh-data', 'customers.db')} does not exist yet (the first start creates it); 1 customer listed in the config`,
    });
    expect(check(report, 'ledger')[0]).toMatchObject({
      verdict: 'ok',
      detail: `${join(dir, 'fresh-data', 'ledger.db')} does not exist yet (the first start creates it)`,
    });
    expect(check(report, 'admin')[0]?.detail).toBe('127.0.0.1:(any free port), loopback only: no token needed');
    expect(check(report, 'listed')).toEqual([]);
    expect(check(report, 'running')[0]).toMatchObject({
      verdict: 'warn',
      detail: 'no gateway runs: the data folder holds no gateway.json, and admin.port is 0',
    });
    expect(text).toMatch(/\nNo problem found, 2 warnings\.\n$/);

    // Started, it says where it is in <dataDir>/gateway.json, and removes the file when it stops.
    const gateway = new ChildService('fresh-gateway', ['gateway', 'start', '--config', fresh]);
    const runFile = join(dir, 'fresh-data', 'gateway.json');
    let written: { pid: number; adminUrl: string; peerId: string };
    let ready: Record<string, unknown>;
    let stopped: number | null;
    try {
      ready = await gateway.ready;
      written = JSON.parse(await readFile(runFile, 'utf8')) as typeof written;
      expect(written).toMatchObject({ pid: gateway.process.pid, adminUrl: ready.admin, peerId: ready.peerId });
    } finally {
      // Asserted after, so that a failure above is the one reported.
      stopped = await gateway.stop();
    }
    expect(stopped, `exited with ${gateway.exitedWith}\n${gateway.tail()}`).toBe(0);
    await expect(readFile(runFile)).rejects.toMatchObject({ code: 'ENOENT' });

    // Left behind by a gateway that was killed: the doctor does not take it for a running one.
    await writeFile(runFile, JSON.stringify(written));
    const crashed = await doctor(fresh);
    expect(check(crashed.report, 'running')).toEqual([
      {
        name: 'running',
        verdict: 'warn',
        detail: `no gateway answers at ${written.adminUrl} (ECONNREFUSED)`,
        fix: expect.stringContaining('gateway.json is left from a gateway that did not stop cleanly'),
      },
    ]);
    expect(check(crashed.report, 'identity')[0]?.detail).toContain(String(ready.peerId));
  });

  it("warns when the ledger holds another key's chain but none of this gateway's: a replaced identity", async () => {
    await loadOrCreateIdentity(join(dir, 'rekeyed.key'));
    const rekeyed = await variant('rekeyed.yaml', (c) => {
      c.identity = join(dir, 'rekeyed.key');
      c.dataDir = join(dir, 'rekeyed-data');
      c.ledger = { ...c.ledger, store: join(dir, 'gateway-data', 'ledger.db') };
      c.https = undefined;
    });
    const { code, report } = await doctor(rekeyed);
    expect(code).toBe(0);
    expect(check(report, 'ledger')).toEqual([
      {
        name: 'ledger',
        verdict: 'warn',
        detail: expect.stringContaining(`holds the chain of ${net.gateway.peerId} but none of this gateway's key (`),
        fix: expect.stringContaining('the identity key was replaced since the last start'),
      },
    ]);
  });

  it('fails an expired certificate and a key that is not the certificate’s, and warns of a readable token', async () => {
    const expired = await expiredCertificate(dir);
    const other = await selfSignedCertificate(dir, 'meadow-other', 'other-', 30);
    const tokenFile = join(dir, 'loose.token');
    await writeFile(tokenFile, `${ADMIN_TOKEN}\n`, { mode: 0o644 });
    const stale = await variant('stale-cert.yaml', (c) => {
      c.https = { host: '127.0.0.1', port: 0, ...expired };
      c.admin = { ...c.admin, tokenFile };
    });
    const a = await doctor(stale);
    expect(a.code).toBe(1);
    expect(check(a.report, 'https')[0]).toMatchObject({
      verdict: 'fail',
      detail: 'CN=meadow-expired: expired on 2020-01-02T00:00:00.000Z; crawlers refuse the https port',
      fix: expect.stringContaining('certbot renew'),
    });
    expect(check(a.report, 'admin')[0]).toMatchObject({
      verdict: 'warn',
      detail: expect.stringContaining('loose.token is readable by others (mode 644)'),
      fix: `chmod 600 ${tokenFile}: the token opens the customer list and their usage`,
    });

    const mismatched = await variant('mismatched.yaml', (c) => {
      c.https = { host: '127.0.0.1', port: 0, certFile: expired.certFile, keyFile: other.keyFile };
    });
    const b = await doctor(mismatched);
    expect(b.code).toBe(1);
    expect(check(b.report, 'https')[0]).toMatchObject({
      verdict: 'fail',
      detail: expect.stringMatching(/^https\.keyFile: .*other-key\.pem is not the private key of .*expired-cert\.pem/),
    });
  });

  it('names the bad config key and stops there', async () => {
    const config = await variant('bad-key.yaml', (c) => {
      c.timeouts = { ...c.timeouts, connectMs: 5 };
    });
    const { code, report } = await doctor(config);
    expect(code).toBe(1);
    expect(report.checks).toHaveLength(1);
    expect(report.checks[0]).toMatchObject({
      name: 'config',
      verdict: 'fail',
      detail: expect.stringContaining('timeouts.connectMs'),
    });
  });
});
