import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustomerStore, hashApiKey } from '@meadow/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meadow } from './run-meadow.ts';

let dir: string;
let config: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-customer-'));
  config = join(dir, 'gateway.yaml');
  await writeFile(config, 'identity: ./gw.key\nnetwork: {}\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('meadow customer', () => {
  it('adds a customer, prints its key once and stores only its hash', async () => {
    const none = await meadow('customer', 'list', '--config', config);
    expect(none.stdout).toBe(`No customers yet: meadow customer add --config ${config} --name <name>\n`);
    const added = await meadow(
      'customer',
      'add',
      '--config',
      config,
      '--name',
      'acme',
      '--quota-gb',
      '2',
      '--max-tunnels',
      '8',
      '--json',
    );
    expect(added.code).toBe(0);
    const { apiKey } = JSON.parse(added.stdout) as { apiKey: string };
    expect(apiKey).toMatch(/^mdw_[A-Za-z0-9_-]{32}$/);
    const store = new CustomerStore(join(dir, '.meadow', 'gateway-data', 'customers.db'));
    const row = store.find('acme');
    store.close();
    expect(row).toMatchObject({
      apiKeySha256: hashApiKey(apiKey),
      quotaBytes: 2_000_000_000,
      maxTunnels: 8,
      disabled: false,
    });
    const again = await meadow('customer', 'add', '--config', config, '--name', 'acme');
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(
      "meadow: customer \"acme\" already exists: 'meadow customer set' changes its plan, 'meadow customer rotate-key' gives it a new key\n",
    );
  });

  it('changes a plan and rotates a key, and says when there is no such customer', async () => {
    const set = await meadow(
      'customer',
      'set',
      '--config',
      config,
      '--name',
      'acme',
      '--quota-gb',
      '0.5',
      '--max-tunnels',
      '3',
    );
    expect(set.code).toBe(0);
    expect(set.stdout).toBe('Customer acme: quota 500.00 MB, 1.00 per GB, at most 3 tunnels at once.\n');
    const unlimited = await meadow('customer', 'set', '--config', config, '--name', 'acme', '--quota-gb', 'none');
    expect(unlimited.stdout).toMatch(/^Customer acme: no quota, 1\.00 per GB, at most 3 tunnels at once\.$/m);
    const nothing = await meadow('customer', 'set', '--config', config, '--name', 'acme');
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toMatch(/give at least one of --quota-gb, --price-per-gb, --max-tunnels, --allow-from/);
    const limited = await meadow(
      'customer',
      'set',
      '--config',
      config,
      '--name',
      'acme',
      '--allow-from',
      '203.0.113.0/24, 2001:db8::7',
    );
    expect(limited.stdout).toMatch(/key usable from 203\.0\.113\.0\/24, 2001:db8::7 only\.$/m);
    const anywhere = await meadow('customer', 'set', '--config', config, '--name', 'acme', '--allow-from', 'any');
    expect(anywhere.stdout).not.toMatch(/usable from/);

    const before = new CustomerStore(join(dir, '.meadow', 'gateway-data', 'customers.db'));
    const oldHash = before.find('acme')?.apiKeySha256;
    before.close();
    const rotated = await meadow('customer', 'rotate-key', '--config', config, '--name', 'acme', '--json');
    expect(rotated.code).toBe(0);
    const { apiKey } = JSON.parse(rotated.stdout) as { apiKey: string };
    const after = new CustomerStore(join(dir, '.meadow', 'gateway-data', 'customers.db'));
    const row = after.find('acme');
    after.close();
    expect(row?.apiKeySha256).toBe(hashApiKey(apiKey));
    expect(row?.apiKeySha256).not.toBe(oldHash);
    expect(row).toMatchObject({ quotaBytes: null, maxTunnels: 3 });

    for (const sub of ['set', 'rotate-key']) {
      const missing = await meadow('customer', sub, '--config', config, '--name', 'nobody', '--max-tunnels', '2');
      expect(missing.code).toBe(1);
      expect(missing.stderr).toBe('meadow: no customer "nobody" (meadow customer list shows them)\n');
    }
  });

  it('lists, disables and reports usage', async () => {
    expect((await meadow('customer', 'list', '--config', config)).stdout).toMatch(
      /acme\s+active\s+no quota, 1\.00 per GB, at most 3 tunnels/,
    );
    expect((await meadow('customer', 'disable', '--config', config, '--name', 'acme')).stdout).toMatch(/disabled/);
    expect((await meadow('customer', 'list', '--config', config)).stdout).toMatch(/acme\s+disabled/);
    const usage = await meadow('customer', 'usage', '--config', config, '--json');
    expect(JSON.parse(usage.stdout)).toEqual([
      { name: 'acme', tunnels: 0, bytesToTarget: 0, bytesFromTarget: 0, quotaBytes: null },
    ]);
    const missing = await meadow('customer', 'disable', '--config', config, '--name', 'nobody');
    expect(missing.code).toBe(1);
  });

  it('names a bad flag value', async () => {
    const bad = await meadow('customer', 'add', '--config', config, '--name', 'x', '--quota-gb', 'lots');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--quota-gb must be a number/);
    const half = await meadow('customer', 'add', '--config', config, '--name', 'x', '--max-tunnels', '2.5');
    expect(half.code).toBe(2);
    expect(half.stderr).toContain('--max-tunnels must be a whole number ≥ 1, got "2.5"');
    const empty = await meadow('customer', 'add', '--config', config, '--name', 'x', '--quota-gb', '');
    expect(empty.stderr).toContain('--quota-gb must be a number ≥ 0, got ""');
    const host = await meadow('customer', 'add', '--config', config, '--name', 'x', '--allow-from', 'crawler.example');
    expect(host.code).toBe(2);
    expect(host.stderr).toContain(
      '--allow-from: "crawler.example" is not an IP address or network (e.g. 203.0.113.0/24)',
    );
    expect((await meadow('customer', 'list', '--config', config)).stdout).not.toMatch(/^x /m);
  });
});
