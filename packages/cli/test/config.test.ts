import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, gatewayConfig, loadConfig, relayConfig } from '../src/config.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(yaml: string): Promise<string> {
  const path = join(dir, `c-${Math.random()}.yaml`);
  await writeFile(path, yaml);
  return path;
}

async function load(yaml: string) {
  return loadConfig(await write(yaml), relayConfig);
}

const relayBase = 'identity: /tmp/r.key\ncountry: de\npayoutAddress: p\nnetwork: {}\n';

describe('config validation', () => {
  it('fills every default and normalises the country', async () => {
    const config = await load(relayBase);
    expect(config.country).toBe('DE');
    expect(config.limits.maxTunnels).toBe(512);
    expect(config.status).toEqual({ host: '127.0.0.1', port: 7070 });
  });

  it.each([
    ['limits: { maxTunnels: "many" }', 'limits.maxTunnels'],
    ['egress: { testOnlyAllowExactTargets: ["10.0.0.0/8:80"] }', 'egress.testOnlyAllowExactTargets.0'],
    ['egress: { testOnlyAllowExactTargets: ["localhost:80"] }', 'egress.testOnlyAllowExactTargets.0'],
    ['status: { host: 0.0.0.0, port: 7070 }', 'status.host'],
    ['limits: { maxTunels: 5 }', 'limits'],
    ['dns: { servers: ["dns.google"] }', 'dns.servers.0'],
    ['egress: { refuseDomains: ["https://bank.example/"] }', 'egress.refuseDomains.0'],
    ['egress: { refuseDomains: ["93.184.216.34"] }', 'egress.refuseDomains.0'],
    ['dns: { servers: ["9.9.9.9:99999"] }', 'dns.servers.0'],
    ['dns: { servers: ["9.9.9.9", "[9.9.9.9]:53"] }', 'dns.servers.1'],
  ])('names the bad key for %s', async (extra, key) => {
    const error = await load(`${relayBase}${extra}\n`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(`  ${key}:`);
  });

  it('keeps the sites a household declines in lower case, without a trailing dot', async () => {
    const config = await load(`${relayBase}egress: { refuseDomains: ["Bank.Example.", "tracker.co.uk"] }\n`);
    expect(config.egress.refuseDomains).toEqual(['bank.example', 'tracker.co.uk']);
  });

  it('accepts DNS servers with and without ports, IPv6 bracketed when it has one', async () => {
    const config = await load(
      `${relayBase}dns: { servers: ["9.9.9.9", "9.9.9.9:5353", "2620:fe::fe", "[2620:fe::fe]:53"] }\n`,
    );
    expect(config.dns).toEqual({
      servers: ['9.9.9.9', '9.9.9.9:5353', '2620:fe::fe', '[2620:fe::fe]:53'],
      cacheSize: 10_000,
      maxTtlSeconds: 300,
    });
  });

  it.each([
    ['Germany', 'country: "Germany" is not an ISO 3166-1 alpha-2 country code (e.g. DE, GB, US)'],
    ['ZZ', 'country: "ZZ" is not an ISO 3166-1 alpha-2 country code'],
    ['uk', 'country: "uk" is not an ISO 3166-1 alpha-2 code: the code for United Kingdom is GB'],
  ])('rejects the country %j and names the code to use', async (country, message) => {
    await expect(load(`identity: x\ncountry: ${country}\npayoutAddress: p\nnetwork: {}\n`)).rejects.toThrow(message);
  });

  it('accepts a country in any case and stores it in upper case', async () => {
    await expect(load('identity: x\ncountry: nl\npayoutAddress: p\nnetwork: {}\n')).resolves.toMatchObject({
      country: 'NL',
    });
  });

  it('says which file is unreadable or not YAML', async () => {
    await expect(loadConfig(join(dir, 'missing.yaml'), relayConfig)).rejects.toThrow(
      /missing\.yaml: cannot read \(ENOENT\)/,
    );
    await expect(load('identity: [unclosed')).rejects.toThrow(/not valid YAML/);
  });

  it('requires customers’ API keys as SHA-256 hashes, never in clear', async () => {
    await expect(
      loadConfig(
        await write('identity: g\nnetwork: {}\ncustomers: [{ name: acme, apiKeySha256: secret }]\n'),
        gatewayConfig,
      ),
    ).rejects.toThrow(/customers\.0\.apiKeySha256: must be the hex SHA-256/);
    const hash = 'a'.repeat(64);
    await expect(
      loadConfig(
        await write(
          `identity: g\nnetwork: {}\ncustomers: [{ name: acme, apiKeySha256: ${hash}, allowedClients: ["10.0.0.0/99"] }]\n`,
        ),
        gatewayConfig,
      ),
    ).rejects.toThrow(/customers\.0\.allowedClients\.0: "10\.0\.0\.0\/99": the prefix length must be 0-32/);
  });
});

describe('example configs in config/', () => {
  it.each([
    ['relay.example.yaml', relayConfig],
    ['gateway.example.yaml', gatewayConfig],
  ])('%s is valid', async (file, schema) => {
    const path = new URL(`../../../config/${file}`, import.meta.url).pathname;
    await expect(loadConfig(path, schema)).resolves.toBeTruthy();
  });

  it('bootstrap.example.yaml is valid', async () => {
    const { bootstrapConfig } = await import('../src/config.ts');
    const path = new URL('../../../config/bootstrap.example.yaml', import.meta.url).pathname;
    await expect(loadConfig(path, bootstrapConfig)).resolves.toBeTruthy();
  });
});

describe('meadow relay init template', () => {
  it('is exactly config/relay.example.yaml', async () => {
    const { readFile } = await import('node:fs/promises');
    const { EXAMPLE_RELAY_VALUES, relayConfigTemplate } = await import('../src/relay-template.ts');
    const example = await readFile(new URL('../../../config/relay.example.yaml', import.meta.url), 'utf8');
    expect(relayConfigTemplate(EXAMPLE_RELAY_VALUES)).toBe(example);
  });
});
