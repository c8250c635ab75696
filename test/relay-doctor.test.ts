import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalNetwork, type RelayConfig, startLocalNetwork } from '@meadow/cli';
import { loadOrCreateIdentity } from '@meadow/discovery';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configVariant, type DoctorReport, runDoctor, waitFor } from './harness.ts';
import { startDnsServer } from './services/dns-server.ts';

let net: LocalNetwork;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-doctor-'));
  net = await startLocalNetwork({ dir, relays: 1, countries: ['NL'] });
  await net.waitForRoutableRelays(1, 60_000);
}, 90_000);

afterAll(async () => {
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
});

const variant = (name: string, change: (config: RelayConfig) => void) =>
  configVariant(net.relays[0]?.configPath as string, dir, name, change);
const doctor = (config: string) => runDoctor('relay', config);

const verdict = (r: DoctorReport, name: string) => r.checks.filter((c) => c.name === name).map((c) => c.verdict);

describe('meadow relay doctor', () => {
  it('passes every check for a running, listed relay, one line per check', async () => {
    const { code, report, text } = await doctor(net.relays[0]?.configPath as string);
    expect(code, `${text}\n${JSON.stringify(report.checks)}`).toBe(0);
    for (const name of ['config', 'identity', 'data folder', 'clock', 'bootstrap', 'gateway', 'listed', 'running'])
      expect(verdict(report, name), `${name}: ${text}`).toEqual(['ok']);
    // The local network allows its test origin: reported as a warning, never as a pass.
    expect(verdict(report, 'egress')).toEqual(['ok', 'warn']);
    expect(report.checks.find((c) => c.name === 'egress')?.detail).toMatch(/all \d+ household addresses refused/);
    expect(text).toMatch(/^✓ listed +descriptor found: NL, serving/m);
  });

  // Right after the check that needs a healthy gateway: it freezes the gateway for good.
  it('says why an advertised gateway does not answer, and that outbound TCP itself works', async () => {
    // Frozen, as a hung machine would be. Its record is at the bootstrap node (the gateway
    // advertises every 2 s until another DHT server holds it), so the DHT still lists it.
    net.gateway.service.kill('SIGSTOP');
    try {
      const { code, report } = await doctor(net.relays[0]?.configPath as string);
      expect(code).toBe(1);
      expect(report.checks.find((c) => c.name === 'gateway')).toMatchObject({
        verdict: 'fail',
        detail: '1 advertised, none answered (no answer)',
        fix: expect.stringContaining('the bootstrap node answers, so outbound TCP works in general'),
      });
    } finally {
      net.gateway.service.kill('SIGKILL');
      await waitFor(() => !net.gateway.service.running, 10_000, 'the gateway to exit');
    }
  });

  it('fails the egress self-test, with the fix, when the config opens a LAN address', async () => {
    const config = await variant('lan-open.yaml', (c) => {
      c.egress.testOnlyAllowExactTargets = ['192.168.1.1:443'];
    });
    const { code, report, text } = await doctor(config);
    expect(code).toBe(1);
    const egress = report.checks.find((c) => c.name === 'egress');
    expect(egress).toMatchObject({ verdict: 'fail', detail: expect.stringContaining('192.168.1.1:443') });
    expect(text).toContain('fix: remove egress.testOnlyAllowExactTargets');
  });

  it('asks each DNS server the relay will ask, and names the one that does not answer', async () => {
    const dns = await startDnsServer({ 'example.com': { a: ['93.184.216.34'] } });
    // A UDP port nobody listens on: the query is refused or times out, as a wrong address would.
    const silent = await startDnsServer();
    await silent.close();
    try {
      const working = await variant('dns-ok.yaml', (c) => {
        c.dns = { ...c.dns, servers: [dns.address] };
      });
      const ok = await doctor(working);
      expect(ok.report.checks.find((c) => c.name === 'dns')).toMatchObject({
        verdict: 'ok',
        detail: expect.stringMatching(new RegExp(`^dns\\.servers: ${dns.address} in \\d+ ms$`)),
      });
      expect(dns.queries).toContain('A example.com');

      const half = await variant('dns-half.yaml', (c) => {
        c.dns = { ...c.dns, servers: [dns.address, silent.address] };
      });
      expect(verdict((await doctor(half)).report, 'dns')).toEqual(['warn']);

      const broken = await variant('dns-broken.yaml', (c) => {
        c.dns = { ...c.dns, servers: [silent.address] };
      });
      const { code, report, text } = await doctor(broken);
      expect(code).toBe(1);
      expect(report.checks.find((c) => c.name === 'dns')).toMatchObject({
        verdict: 'fail',
        detail: expect.stringContaining(`1 of 1 DNS servers did not answer: ${silent.address} (`),
      });
      expect(text).toContain('fix: correct dns.servers in the config');
    } finally {
      await dns.close();
    }
  });

  it('names an unreachable bootstrap node, with a fix', async () => {
    const deadPeer = net.bootstrap.multiaddr.split('/p2p/')[1];
    const config = await variant('offline.yaml', (c) => {
      c.network.bootstrap = [`/ip4/127.0.0.1/tcp/1/p2p/${deadPeer}`];
    });
    const { code, report } = await doctor(config);
    expect(code).toBe(1);
    expect(report.checks.find((c) => c.name === 'bootstrap')).toMatchObject({
      verdict: 'fail',
      detail: expect.stringContaining('does not answer'),
      fix: expect.stringContaining('network.bootstrap'),
    });
  });

  it('says when the relay is not running and not listed in the DHT, and when its key is missing', async () => {
    await loadOrCreateIdentity(join(dir, 'never-started.key'));
    const config = await variant('never-started.yaml', (c) => {
      c.identity = join(dir, 'never-started.key');
      c.status = { host: '127.0.0.1', port: 1 };
      c.dataDir = join(dir, 'never-started-data');
    });
    const { code, report } = await doctor(config);
    expect(code).toBe(1);
    expect(report.checks.find((c) => c.name === 'identity')?.verdict).toBe('ok');
    expect(report.checks.find((c) => c.name === 'listed')).toMatchObject({
      verdict: 'fail',
      detail: expect.stringContaining('not in the DHT'),
      fix: expect.stringContaining('meadow relay start'),
    });
    expect(report.checks.find((c) => c.name === 'running')).toMatchObject({ verdict: 'warn' });

    const keyless = await variant('keyless.yaml', (c) => {
      c.identity = join(dir, 'no-such.key');
    });
    const missing = await doctor(keyless);
    expect(missing.report.checks.find((c) => c.name === 'identity')).toMatchObject({
      verdict: 'fail',
      fix: expect.stringContaining('meadow relay init'),
    });
  });

  it('names the bad config key and stops there', async () => {
    const config = await variant('bad-key.yaml', (c) => {
      c.dataCap = { bytes: -5 } as RelayConfig['dataCap'];
    });
    const { code, report } = await doctor(config);
    expect(code).toBe(1);
    expect(report.checks).toHaveLength(1);
    expect(report.checks[0]).toMatchObject({
      name: 'config',
      verdict: 'fail',
      detail: expect.stringContaining('dataCap.bytes'),
    });
  });
});
