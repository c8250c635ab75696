import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DnsServer, startDnsServer } from '../../../test/services/dns-server.ts';
import { numericIpv4, RESOLUTION_DELAY_MS, TargetResolver } from '../src/target-resolver.ts';

describe('TargetResolver', () => {
  let dns: DnsServer;
  const both = () => ({ ipv4: true, ipv6: true });
  const resolver = (init: ConstructorParameters<typeof TargetResolver>[0] = {}) =>
    new TargetResolver({ servers: [dns.address], queryTimeoutMs: 200, tries: 1, families: both, ...init });
  const queriesFor = (name: string) => dns.queries.filter((q) => q.endsWith(` ${name}`)).length;

  beforeAll(async () => {
    dns = await startDnsServer({
      'shop.example': { a: ['93.184.216.34', '93.184.216.35'], aaaa: ['2606:2800:220:1::1'], ttl: 60 },
      'v4only.example': { a: ['93.184.216.36'] },
      'slow.example': { a: ['93.184.216.37'], delayMs: 150 },
      'dead.example': { silent: true },
      '*.dead.example': { silent: true },
      'aaaa-dropped.example': { a: ['93.184.216.40'], dropAaaa: true },
      'broken.example': { serverFailure: true },
      'zero-ttl.example': { a: ['93.184.216.38'], ttl: 0 },
      'short-ttl.example': { a: ['93.184.216.39'], ttl: 1 },
    });
  });
  afterAll(() => dns.close());

  it('asks the configured server for both families and interleaves them, IPv6 first', async () => {
    await expect(resolver().resolve('shop.example')).resolves.toEqual([
      '2606:2800:220:1::1',
      '93.184.216.34',
      '93.184.216.35',
    ]);
    await expect(resolver({ families: () => ({ ipv4: true, ipv6: false }) }).resolve('shop.example')).resolves.toEqual([
      '93.184.216.34',
      '93.184.216.35',
    ]);
  });

  it('answers from its cache within the TTL, and asks again after it', async () => {
    const r = resolver({ families: () => ({ ipv4: true, ipv6: false }) });
    const before = queriesFor('short-ttl.example');
    for (let i = 0; i < 5; i++) await expect(r.resolve('short-ttl.example')).resolves.toEqual(['93.184.216.39']);
    expect(queriesFor('short-ttl.example') - before).toBe(1);
    expect(r.stats).toMatchObject({ fromCache: 4, queries: { answered: 1 } });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await r.resolve('short-ttl.example');
    expect(queriesFor('short-ttl.example') - before).toBe(2);
  });

  it('never caches a TTL of 0', async () => {
    const r = resolver({ families: () => ({ ipv4: true, ipv6: false }) });
    const before = queriesFor('zero-ttl.example');
    await r.resolve('zero-ttl.example');
    await r.resolve('zero-ttl.example');
    expect(queriesFor('zero-ttl.example') - before).toBe(2);
  });

  it('sends one query for many tunnels asking for the same name at once', async () => {
    const r = resolver({ families: () => ({ ipv4: true, ipv6: false }) });
    const before = queriesFor('slow.example');
    const answers = await Promise.all(Array.from({ length: 20 }, () => r.resolve('slow.example')));
    expect(answers.every((a) => a[0] === '93.184.216.37')).toBe(true);
    expect(queriesFor('slow.example') - before).toBe(1);
    expect(r.stats.joined).toBe(19);
  });

  it('does not let a name whose server never answers hold up other names', async () => {
    const r = resolver({ families: () => ({ ipv4: true, ipv6: false }), queryTimeoutMs: 2_000 });
    const dead = Array.from({ length: 16 }, (_, i) => r.resolve(`n${i}.dead.example`).catch((err: Error) => err));
    const started = performance.now();
    await expect(r.resolve('v4only.example')).resolves.toEqual(['93.184.216.36']);
    expect(performance.now() - started).toBeLessThan(1_000);
    r.close();
    await Promise.all(dead);
  });

  it('names a name that does not exist, remembers it, and asks again after a timeout or SERVFAIL', async () => {
    const r = resolver();
    await expect(r.resolve('nowhere.example')).rejects.toMatchObject({
      code: 'MEADOW_ERR_DNS_FAILED',
      message: expect.stringMatching(/cannot resolve nowhere\.example: does not exist \(ENOTFOUND\)/),
    });
    const before = queriesFor('nowhere.example');
    await expect(r.resolve('nowhere.example')).rejects.toMatchObject({ code: 'MEADOW_ERR_DNS_FAILED' });
    expect(queriesFor('nowhere.example')).toBe(before);

    await expect(r.resolve('broken.example')).rejects.toMatchObject({
      message: expect.stringMatching(/broken\.example: no answer \(ESERVFAIL\)/),
    });
    await expect(r.resolve('dead.example')).rejects.toMatchObject({
      message: expect.stringMatching(/dead\.example: no answer \(ETIMEOUT\)/),
    });
    const failed = queriesFor('dead.example');
    await expect(r.resolve('dead.example')).rejects.toMatchObject({ code: 'MEADOW_ERR_DNS_FAILED' });
    expect(queriesFor('dead.example')).toBeGreaterThan(failed);
    r.close();
  });

  it('returns one family without waiting long for the other', async () => {
    const r = resolver({ queryTimeoutMs: 1_500 });
    const started = performance.now();
    await expect(r.resolve('aaaa-dropped.example')).resolves.toEqual(['93.184.216.40']);
    // The AAAA query would time out at 1.5 s; the answer waited only the resolution delay for it.
    expect(performance.now() - started).toBeLessThan(RESOLUTION_DELAY_MS + 500);
    r.close();
  });

  it('gives up when the tunnel does, and keeps the answer for the next one', async () => {
    const r = resolver({ families: () => ({ ipv4: true, ipv6: false }) });
    const abort = new AbortController();
    const pending = r.resolve('slow.example', abort.signal);
    abort.abort();
    await expect(pending).rejects.toMatchObject({ message: expect.stringMatching(/abandoned/) });
    await new Promise((resolve) => setTimeout(resolve, 250));
    const before = queriesFor('slow.example');
    await expect(r.resolve('slow.example')).resolves.toEqual(['93.184.216.37']);
    expect(queriesFor('slow.example')).toBe(before);
  });

  it('keeps at most cacheSize names, dropping the least recently used', async () => {
    const r = resolver({ families: () => ({ ipv4: true, ipv6: false }), cacheSize: 2 });
    await r.resolve('shop.example');
    await r.resolve('v4only.example');
    await r.resolve('shop.example');
    await r.resolve('short-ttl.example');
    expect(r.cacheEntries).toBe(2);
    const before = { shop: queriesFor('shop.example'), v4: queriesFor('v4only.example') };
    await r.resolve('shop.example');
    await r.resolve('v4only.example');
    expect(queriesFor('shop.example')).toBe(before.shop);
    expect(queriesFor('v4only.example')).toBe(before.v4 + 1);
  });

  it('resolves literals and localhost without a query', async () => {
    const r = resolver();
    const before = dns.queries.length;
    await expect(r.resolve('93.184.216.34')).resolves.toEqual(['93.184.216.34']);
    await expect(r.resolve('localhost')).resolves.toEqual(['::1', '127.0.0.1']);
    await expect(r.resolve('admin.localhost')).resolves.toEqual(['::1', '127.0.0.1']);
    await expect(r.resolve('0x7f.1')).resolves.toEqual(['127.0.0.1']);
    await expect(r.resolve('1.2.3.999')).rejects.toMatchObject({ code: 'MEADOW_ERR_DNS_FAILED' });
    expect(dns.queries.length).toBe(before);
  });
});

describe('TargetResolver whose servers fall silent', () => {
  it('sends names to other relays while its servers are silent, keeps what it knows, and recovers', async () => {
    const dns = await startDnsServer({
      'known.example': { a: ['93.184.216.41'] },
      'new.example': { a: ['93.184.216.42'] },
    });
    const port = dns.port;
    const r = new TargetResolver({
      servers: [dns.address],
      queryTimeoutMs: 200,
      tries: 1,
      families: () => ({ ipv4: true, ipv6: false }),
      health: { silentQueries: 2, silentMs: 0 },
    });
    await expect(r.resolve('known.example')).resolves.toEqual(['93.184.216.41']);
    await dns.close();
    // Nothing listens now: each query is refused at once (ECONNREFUSED) or times out.
    await expect(r.resolve('a.example')).rejects.toMatchObject({ code: 'MEADOW_ERR_DNS_FAILED' });
    await expect(r.resolve('b.example')).rejects.toMatchObject({
      code: 'MEADOW_ERR_RELAY_NOT_SERVING',
      hop: 'relay',
      message: expect.stringMatching(
        /this relay's DNS servers \(127\.0\.0\.1:\d+\) have not answered since .*another relay must resolve b\.example/,
      ),
    });
    expect(r.health.answering).toBe(false);
    // Refused at once while silent, without waiting for a query; the cache still answers.
    const started = performance.now();
    await expect(r.resolve('new.example')).rejects.toMatchObject({ code: 'MEADOW_ERR_RELAY_NOT_SERVING' });
    expect(performance.now() - started).toBeLessThan(50);
    await expect(r.resolve('known.example')).resolves.toEqual(['93.184.216.41']);

    const back = await startDnsServer({ 'new.example': { a: ['93.184.216.42'] } }, port);
    try {
      // The next tunnel's name goes out as a probe (at most one a second); its answer ends the outage.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      await expect(r.resolve('new.example')).rejects.toMatchObject({ code: 'MEADOW_ERR_RELAY_NOT_SERVING' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(r.health.answering).toBe(true);
      await expect(r.resolve('new.example')).resolves.toEqual(['93.184.216.42']);
    } finally {
      r.close();
      await back.close();
    }
  });
});

describe('numericIpv4', () => {
  it.each([
    ['127.1', '127.0.0.1'],
    ['0x7f.1', '127.0.0.1'],
    ['2130706433', '127.0.0.1'],
    ['0177.0.0.1', '127.0.0.1'],
    ['017700000001', '127.0.0.1'],
    ['0x7f000001', '127.0.0.1'],
    ['10.0x10.1', '10.16.0.1'],
    ['0x', '0.0.0.0'],
    ['4294967295', '255.255.255.255'],
  ])('reads %s as %s, as browsers and getaddrinfo do', (host, address) => {
    expect(numericIpv4(host)).toBe(address);
  });

  it.each(['4294967296', '256.1.1.1', '1.2.3.4.5', '08.1.1.1', 'a.1', '1.2.3.0x100'])(
    'refuses %s, whose last label is a number but which is no address',
    (host) => {
      expect(numericIpv4(host)).toBeNull();
    },
  );

  it.each(['example.com', '1.example', 'x1', '1a', '0xg'])('leaves the name %s to DNS', (host) => {
    expect(numericIpv4(host)).toBeUndefined();
  });
});
