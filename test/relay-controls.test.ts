import { once } from 'node:events';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalNetwork, type LocalRelay, startLocalNetwork } from '@meadow/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl, getJson, rssBytes, runMeadow, socksConnect, waitFor } from './harness.ts';

const MiB = 1024 * 1024;
const RATE = 4 * MiB;
const BURST = 256 * 1024;
const CAP = 4 * MiB;

interface Status {
  state: string;
  activeTunnels: number;
  bytes: {
    period: { bytesToTarget: number; bytesFromTarget: number } | null;
    allTime: { bytesToTarget: number; bytesFromTarget: number };
  };
  cap: { bytes: number; remainingBytes: number } | null;
  gateways: Array<{ peerId: string }>;
}

interface GatewayStatus {
  relays: Array<{ peerId: string; routable: boolean }>;
}

let net: LocalNetwork;
let dir: string;
let limited: LocalRelay;
let capped: LocalRelay;
let plain: LocalRelay;

const run = (args: string[]) => runMeadow(args);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-relay-'));
  net = await startLocalNetwork({ dir, relays: 0 });
  limited = await net.addRelay({
    country: 'DE',
    config: { rateLimit: { fromTargetBytesPerSecond: RATE, toTargetBytesPerSecond: RATE, burstBytes: BURST } },
  });
  capped = await net.addRelay({
    country: 'FR',
    config: { dataCap: { bytes: CAP, period: 'day', start: '00:00', wakeJitterMinutes: 0 } },
  });
  plain = await net.addRelay({ country: 'NL' });
  await net.waitForRoutableRelays(3, 60_000);
});

afterAll(async () => {
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
});

const creds = (country: string) => ({
  username: `${net.customer.name}-country-${country}`,
  password: net.customer.apiKey,
});

/** Downloads /bytes/<n> through SOCKS5; returns bytes received and seconds from first to last byte. */
async function download(
  country: string,
  bytes: number,
): Promise<{ received: number; seconds: number; socket: Socket }> {
  const socket = await socksConnect(net.gateway.socks, creds(country), '127.0.0.1', net.origin.port);
  let received = 0;
  let first = 0;
  let last = 0;
  socket.on('data', (c: Buffer) => {
    if (first === 0) first = performance.now();
    last = performance.now();
    received += c.byteLength;
  });
  socket.on('error', () => {});
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.write(`GET /bytes/${bytes} HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n`);
  await closed;
  return { received, seconds: (last - first) / 1000, socket };
}

describe('household controls on a real relay', () => {
  it('holds downloads to the configured rate, within 10%', async () => {
    const { received, seconds } = await download('de', 16 * MiB);
    expect(received).toBeGreaterThan(16 * MiB);
    const rate = (received - BURST) / seconds;
    console.log(`rate-limited relay: ${(rate / MiB).toFixed(2)} MiB/s for a limit of ${RATE / MiB} MiB/s`);
    expect(rate).toBeGreaterThan(RATE * 0.9);
    expect(rate).toBeLessThan(RATE * 1.1);
    const status = await getJson<Status>(`${limited.statusUrl}/status`);
    expect(status.bytes.allTime.bytesFromTarget).toBeGreaterThan(16 * MiB);
  });

  it('holds uploads to the configured rate, within 10%', async () => {
    const socket = await socksConnect(net.gateway.socks, creds('de'), '127.0.0.1', net.origin.port);
    const size = 12 * MiB;
    const started = performance.now();
    socket.write(`POST /upload HTTP/1.1\r\nHost: origin\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`);
    socket.write(Buffer.alloc(size, 1));
    let reply = '';
    socket.on('data', (c: Buffer) => {
      reply += c.toString();
    });
    await once(socket, 'close');
    const seconds = (performance.now() - started) / 1000;
    expect(reply).toContain(`"bytes":${size}`);
    const rate = (size - BURST) / seconds;
    console.log(`rate-limited relay upload: ${(rate / MiB).toFixed(2)} MiB/s for a limit of ${RATE / MiB} MiB/s`);
    expect(rate).toBeGreaterThan(RATE * 0.9);
    expect(rate).toBeLessThan(RATE * 1.1);
  });

  it('never exceeds the data cap by more than one buffer, then hibernates and refuses new tunnels', async () => {
    const { received } = await download('fr', 16 * MiB);
    expect(received).toBeLessThanOrEqual(CAP + 64 * 1024);
    const status = await getJson<Status>(`${capped.statusUrl}/status`);
    const period = status.bytes.period as { bytesToTarget: number; bytesFromTarget: number };
    expect(period.bytesToTarget + period.bytesFromTarget).toBe(CAP);
    expect(status.state).toBe('hibernating');
    expect(status.cap?.remainingBytes).toBe(0);
    const refused = await curl([
      '-x',
      `http://127.0.0.1:${net.gateway.http.port}`,
      '--proxy-user',
      `${creds('fr').username}:${net.customer.apiKey}`,
      net.origin.url,
    ]);
    expect(refused.status).toBe(503);
    expect(refused.headers).toMatch(/proxy-status: meadow; error=destination_unavailable/i);
  });

  it('keeps its counters and its hibernation across a graceful restart', async () => {
    const before = await getJson<Status>(`${capped.statusUrl}/status`);
    capped = await net.restartRelay(capped);
    const after = await getJson<Status>(`${capped.statusUrl}/status`);
    expect(after.bytes.allTime).toEqual(before.bytes.allTime);
    expect(after.bytes.period).toEqual(before.bytes.period);
    expect(after.state).toBe('hibernating');

    // What the household reads on the command line, and what a script reads (once linked again).
    await waitFor(
      async () => (await getJson<Status>(`${capped.statusUrl}/status`)).gateways.length > 0,
      15_000,
      'the restarted relay to link to the gateway',
    );
    const text = await run(['relay', 'status', '--config', capped.configPath]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^state +hibernating: data cap for this period reached, until \d{4}-\d\d-\d\d \d\d:\d\d /m,
    );
    expect(text.stdout).toMatch(/^data cap +\d+\.\d\d MB of \d+\.\d\d MB used this period, 0 B left until /m);
    expect(text.stdout).toMatch(/^gateways +12D3KooW…\w{4} linked since .*, 0 open now$/m);
    const json = await run(['relay', 'status', '--config', capped.configPath, '--json']);
    expect((JSON.parse(json.stdout) as Status).state).toBe('hibernating');
  });

  it('pauses and resumes from the command line; a paused relay takes no new tunnels', async () => {
    const paused = await run(['relay', 'pause', '--config', plain.configPath]);
    expect(paused.stdout).toMatch(/relay is paused/);
    expect((await getJson<Status>(`${plain.statusUrl}/status`)).state).toBe('paused');
    const refused = await curl([
      '-x',
      `http://127.0.0.1:${net.gateway.http.port}`,
      '--proxy-user',
      `${creds('nl').username}:${net.customer.apiKey}`,
      net.origin.url,
    ]);
    expect(refused.status).toBe(503);
    const resumed = await run(['relay', 'resume', '--config', plain.configPath]);
    expect(resumed.stdout).toMatch(/relay is serving/);
    // The relay republishes and hints the gateway, which refetches the descriptor from the DHT.
    await waitFor(
      async () =>
        (await getJson<GatewayStatus>(`${net.gateway.adminUrl}/status`)).relays.some(
          (r) => r.peerId === plain.peerId && r.routable,
        ),
      5_000,
      'gateway sees the resumed relay as routable',
    );
    const ok = await curl([
      '-x',
      `http://127.0.0.1:${net.gateway.http.port}`,
      '--proxy-user',
      `${creds('nl').username}:${net.customer.apiKey}`,
      net.origin.url,
    ]);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).youAre).toBe(plain.egressAddress);
  });

  it('refuses control requests without the token, or with a foreign Host header', async () => {
    const noToken = await curl(['-X', 'POST', `${plain.statusUrl}/control/pause`]);
    expect(noToken.status).toBe(401);
    const foreignHost = await curl(['-H', 'Host: evil.example', `${plain.statusUrl}/status`]);
    expect(foreignHost.status).toBe(403);
    expect((await getJson<Status>(`${plain.statusUrl}/status`)).state).toBe('serving');
  });

  it('does not grow its memory by more than a few MiB for a client that reads nothing of 100 MB', async () => {
    const pid = plain.service.process.pid as number;
    // Warm-up: let V8 size its heap on a normal transfer first.
    await download('nl', 64 * MiB);
    const baseline = rssBytes(pid);
    const socket = await socksConnect(net.gateway.socks, creds('nl'), '127.0.0.1', net.origin.port);
    // The socks client resumes the socket once after its handshake: pause after that.
    await new Promise((r) => setImmediate(r));
    socket.pause();
    expect(socket.readableFlowing).toBe(false);
    socket.write(`GET /bytes/${100 * 1000 * 1000} HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n`);
    let peak = baseline;
    const deadline = Date.now() + 3_000;
    while (Date.now() < deadline) {
      peak = Math.max(peak, rssBytes(pid));
      await new Promise((r) => setTimeout(r, 100));
    }
    const growthMiB = (peak - baseline) / MiB;
    console.log(`relay RSS growth with a stalled 100 MB reader: ${growthMiB.toFixed(1)} MiB`);
    // Buffering would show as ~100 MB; measured 0-7 MiB of GC noise here.
    expect(growthMiB).toBeLessThan(16);
    socket.destroy();
    await waitFor(
      async () => (await getJson<Status>(`${plain.statusUrl}/status`)).activeTunnels === 0,
      10_000,
      'tunnel closed',
    );
  });
});

describe('meadow relay init and config errors', () => {
  it('creates a 0600 identity and a commented config with every key, which starts', async () => {
    const configPath = join(dir, 'fresh', 'relay.yaml');
    await mkdir(join(dir, 'fresh'));
    // A bad flag is named by the flag, and leaves nothing behind to block the corrected command.
    const wrong = await run(['relay', 'init', '--config', configPath, '--country', 'uk', '--payout', '']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('relay init: nothing written');
    expect(wrong.stderr).toContain(
      '--country: "UK" is not an ISO 3166-1 alpha-2 code: the code for United Kingdom is GB',
    );
    expect(wrong.stderr).toContain('--payout: must not be empty');
    await expect(stat(configPath)).rejects.toThrow('ENOENT');
    await expect(stat(join(dir, 'fresh', '.meadow', 'relay.key'))).rejects.toThrow('ENOENT');
    const init = await run(['relay', 'init', '--config', configPath, '--country', 'nl', '--payout', 'addr-1']);
    expect(init.code).toBe(0);
    expect(init.stdout).toMatch(/Peer id: 12D3Koo/);
    expect((await stat(join(dir, 'fresh', '.meadow', 'relay.key'))).mode & 0o777).toBe(0o600);
    const again = await run(['relay', 'init', '--config', configPath]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists/);
  });

  it('says how to start a relay that is not running when asked for its status', async () => {
    const { createServer } = await import('node:net');
    const probe = createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve)); // a port nothing listens on
    const config = join(dir, 'stopped.yaml');
    await writeFile(
      config,
      `identity: ./st.key\ndataDir: ./st-data\ncountry: DE\npayoutAddress: p\nnetwork: {}\nstatus: { port: ${port} }\n`,
    );
    for (const command of ['status', 'pause']) {
      const result = await run(['relay', command, '--config', config]);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `meadow: the relay is not answering at http://127.0.0.1:${port} (nothing listens there). Is it running? Start it with: meadow relay start --config ${config}\n`,
      );
    }
  });

  it('refuses a private bootstrap address the DHT would drop, naming the key', async () => {
    const config = join(dir, 'private-bootstrap.yaml');
    const bootstrap = '/ip4/192.168.1.10/tcp/4001/p2p/12D3KooWMBGKLbyZMcX6S75GUve4RDEAMCFH7JaeeDEiLNE69sBi';
    await writeFile(
      config,
      `identity: ./pb.key\ncountry: DE\npayoutAddress: p\nnetwork: { bootstrap: [${bootstrap}] }\n`,
    );
    const result = await run(['relay', 'start', '--config', config]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'network.bootstrap.0: is a private address (loopback, LAN or a documentation range), which the DHT drops: for a network on one machine or a LAN set network.allowPrivateAddresses: true',
    );
    await expect(stat(join(dir, 'pb.key'))).rejects.toThrow('ENOENT');
  });

  it('logs a bootstrap node that stays down once per error, not at every retry', async () => {
    const config = join(dir, 'dead-bootstrap.yaml');
    const dead = '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWMBGKLbyZMcX6S75GUve4RDEAMCFH7JaeeDEiLNE69sBi';
    await writeFile(
      config,
      `identity: ./db.key\ndataDir: ./db-data\ncountry: DE\npayoutAddress: p\nnetwork: { bootstrap: [${dead}], allowPrivateAddresses: true }\nstatus: { port: 0 }\n`,
    );
    // Seven seconds: the descriptor is tried about four times, the bootstrap node dialled twice.
    const result = await runMeadow(['relay', 'start', '--config', config], 7_000);
    const events = result.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; err?: string; retryInMs?: number });
    const publish = events.filter((e) => e.msg === 'could not publish the descriptor in the DHT; retrying');
    expect(publish).toEqual([
      expect.objectContaining({ err: 'the descriptor reached no DHT server yet', failures: 1, retryInMs: 1_000 }),
    ]);
    expect(events.filter((e) => e.msg === 'bootstrap peer unreachable')).toHaveLength(1);
  });

  it('refuses to start on a bad key, names it, and starts nothing', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(
      bad,
      'identity: ./k\ncountry: DE\npayoutAddress: p\nnetwork: {}\nrateLimit: { fromTargetBytesPerSecond: -5 }\nschedule: { timezone: Mars/Olympus }\n',
    );
    const result = await run(['relay', 'start', '--config', bad]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('rateLimit.fromTargetBytesPerSecond');
    expect(result.stdout).not.toContain('"msg":"ready"');
    await expect(stat(join(dir, 'k'))).rejects.toThrow();
  });
});
