import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, statfs, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type LocalNetwork, type LocalRelay, startLocalNetwork } from '@meadow/cli';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl, getJson, httpConnect, runMeadow, socksConnect, waitFor, waitForNoTunnels } from './harness.ts';
import { FaultProxy } from './services/fault-proxy.ts';
import { freePort } from './services/free-port.ts';

const run = promisify(execFile);

// Faults one at a time on a real local network: a relay killed or frozen mid-transfer, the
// gateway restarted (gracefully and by crash), the bootstrap node gone. What crawlers see must be
// an error within seconds, never a hang, and new tunnels must keep working.

const FAILURE_BUDGET_MS = 10_000;

let net: LocalNetwork;
let dir: string;

const creds = (session?: string) => ({
  username: session == null ? net.customer.name : `${net.customer.name}-session-${session}`,
  password: net.customer.apiKey,
});

/** GET / through SOCKS5: the origin answers with the address it saw, i.e. the relay's egress address. */
async function whoami(session?: string): Promise<string> {
  const socket = await socksConnect(net.gateway.socks, creds(session), net.origin.host, net.origin.port);
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (c: string) => {
    text += c;
  });
  socket.write('GET / HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n');
  await once(socket, 'close');
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  return (JSON.parse(body) as { youAre: string }).youAre;
}

function relayAt(address: string): LocalRelay {
  const relay = net.relays.find((r) => r.egressAddress === address);
  if (relay == null) throw new Error(`no relay with egress address ${address}`);
  return relay;
}

/**
 * Starts a large download over SOCKS5 (through the session's relay, if given) and returns once it
 * is under way; `ended` resolves when the tunnel ends, however it ends.
 */
async function download(
  network: LocalNetwork,
  session?: string,
): Promise<{ received: () => number; ended: Promise<{ at: number; error?: string }> }> {
  const { name, apiKey } = network.customer;
  const username = session == null ? name : `${name}-session-${session}`;
  const socket = await socksConnect(
    network.gateway.socks,
    { username, password: apiKey },
    network.origin.host,
    network.origin.port,
  );
  let received = 0;
  socket.on('data', (c: Buffer) => {
    received += c.byteLength;
  });
  let error: string | undefined;
  socket.on('error', (err) => {
    error = err.message;
  });
  // Not events.once: it rejects on 'error', and a reset is one of the endings under test.
  const ended = new Promise<{ at: number; error?: string }>((resolve) => {
    socket.once('close', () => resolve({ at: performance.now(), error }));
  });
  socket.write('GET /bytes/20000000000 HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n');
  await waitFor(() => received > 1_000_000, 10_000, 'the download to be under way');
  return { received: () => received, ended };
}

async function newTunnelsSucceed(count: number, avoid: string): Promise<void> {
  const seen = await Promise.all(Array.from({ length: count }, () => whoami()));
  expect(seen.filter((a) => a === avoid)).toEqual([]);
}

describe('faults (real processes)', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meadow-faults-'));
    net = await startLocalNetwork({
      dir,
      relays: 4,
      countries: ['DE'],
      gatewayConfig: { ledger: { receiptIntervalSeconds: 10 } },
    });
    await net.waitForRoutableRelays(4, 60_000);
  }, 120_000);

  afterAll(async () => {
    for (const r of net?.relays ?? []) if (r.service.running) r.service.kill('SIGCONT');
    await net?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a relay killed with SIGKILL mid-transfer: the tunnel ends within 10 s, new tunnels go elsewhere', async () => {
    const victim = relayAt(await whoami('kill'));
    const transfer = await download(net, 'kill');
    const killedAt = performance.now();
    victim.service.kill('SIGKILL');
    const end = await transfer.ended;
    console.log(
      `[faults] SIGKILL: the tunnel ended ${Math.round(end.at - killedAt)} ms after the kill (${end.error ?? 'closed'})`,
    );
    expect(end.at - killedAt).toBeLessThan(FAILURE_BUDGET_MS);
    expect(transfer.received()).toBeLessThan(20_000_000_000);
    await newTunnelsSucceed(20, victim.egressAddress);
    // The session moves to a live relay (not strict), and keeps that one.
    const moved = await whoami('kill');
    expect(moved).not.toBe(victim.egressAddress);
    expect(await whoami('kill')).toBe(moved);
  });

  it('a relay frozen with SIGSTOP (connection open, nothing moves): the tunnel errors within 10 s', async () => {
    const victim = relayAt(await whoami('freeze'));
    const transfer = await download(net, 'freeze');
    const frozenAt = performance.now();
    victim.service.kill('SIGSTOP');
    try {
      const end = await transfer.ended;
      const tookMs = end.at - frozenAt;
      console.log(
        `[faults] SIGSTOP: the tunnel ended ${Math.round(tookMs)} ms after the freeze (${end.error ?? 'closed'})`,
      );
      expect(tookMs).toBeLessThan(FAILURE_BUDGET_MS);
      await newTunnelsSucceed(20, victim.egressAddress);
    } finally {
      victim.service.kill('SIGCONT');
    }
    // Thawed, it links again and serves.
    await net.waitForRoutableRelays(3, 30_000);
  });

  it('a gateway restart: relays link again, traffic flows within a bounded time, sessions keep surviving relays', async () => {
    const kept = await whoami('survivor');
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const started = performance.now();
      await net.restartGateway({ signal });
      const upAt = performance.now();
      let firstOk = 0;
      await waitFor(
        async () => {
          try {
            await whoami();
            firstOk = performance.now();
            return true;
          } catch {
            return false;
          }
        },
        30_000,
        `a tunnel through the gateway after a ${signal} restart`,
      );
      console.log(
        `[faults] gateway restart (${signal}): down+up ${Math.round(upAt - started)} ms, first tunnel ${Math.round(firstOk - upAt)} ms after ready`,
      );
      expect(firstOk - upAt).toBeLessThan(20_000);
      // The session's relay survived the restart, so the session keeps it.
      expect(await whoami('survivor')).toBe(kept);
    }
  });

  it('a gateway crash loses no counted byte: it proposes from its saved counters, and the relay signs without a dispute', async () => {
    const relay = relayAt(await whoami('counted'));
    const earnings = async () =>
      JSON.parse((await runMeadow(['relay', 'earnings', '--config', relay.configPath, '--json'])).stdout) as {
        receipts: number;
        disputes: number;
      };
    await waitFor(async () => (await earnings()).receipts > 0, 20_000, 'a first co-signed receipt');
    const before = await earnings();
    // 6 MB, more than the relays' 4 MiB tolerance, carried and not yet co-signed when the gateway dies.
    const socket = await socksConnect(net.gateway.socks, creds('counted'), net.origin.host, net.origin.port);
    socket.on('error', () => {});
    socket.resume();
    socket.write('GET /bytes/6000000 HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n');
    await new Promise((resolve) => socket.once('close', resolve));
    await new Promise((r) => setTimeout(r, 1_500)); // the counters are saved every second
    await net.restartGateway({ signal: 'SIGKILL' });
    await waitFor(async () => (await earnings()).receipts > before.receipts, 30_000, 'a receipt after the crash');
    expect((await earnings()).disputes).toBe(before.disputes);
  });

  it("the bootstrap node's absence does not stop a running network", async () => {
    net.bootstrap.service.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 3_000));
    const seen = await Promise.all(Array.from({ length: 30 }, () => whoami()));
    expect(new Set(seen).size).toBeGreaterThan(1);
    await waitForNoTunnels(net);
  });
});

describe('a full disk under the gateway (tmpfs)', () => {
  let full: LocalNetwork;
  let fullDir: string;
  let mount: string;

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('this test mounts a small tmpfs and needs root (CI runs as root)');
    fullDir = await mkdtemp(join(tmpdir(), 'meadow-diskfull-'));
    mount = join(fullDir, 'gateway-data');
    await mkdir(mount);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', mount]);
    full = await startLocalNetwork({
      dir: fullDir,
      relays: 1,
      countries: ['NL'],
      gatewayConfig: { dataDir: mount, ledger: { receiptIntervalSeconds: 1 } },
    });
    await full.waitForRoutableRelays(1, 60_000);
  }, 120_000);

  afterAll(async () => {
    await full?.stop();
    if (mount != null) await run('umount', [mount]).catch(() => {});
    if (fullDir != null) await rm(fullDir, { recursive: true, force: true });
  });

  async function metering(): Promise<number> {
    const text = await (await fetch(`${full.gateway.adminUrl}/metrics`)).text();
    return Number(/^meadow_gateway_metering_available (\d)/m.exec(text)?.[1]);
  }

  it('stops metered traffic with a clear error and a metric, ends open tunnels, and resumes when space returns', async () => {
    const proxy = `http://${full.gateway.http.host}:${full.gateway.http.port}`;
    const user = `${full.customer.name}:${full.customer.apiKey}`;
    expect((await curl(['-x', proxy, '-U', user, `http://127.0.0.1:${full.origin.port}/`])).status).toBe(200);
    expect(await metering()).toBe(1);

    // A long download is running when the disk fills up.
    const transfer = await download(full);
    const { bavail, bsize } = await statfs(mount);
    await writeFile(join(mount, 'filler'), Buffer.alloc(bavail * bsize)).catch(() => {});
    const filledAt = performance.now();

    // The next receipt round cannot be written: the gateway stops carrying traffic.
    await waitFor(async () => (await metering()) === 0, 10_000, 'the gateway to notice it cannot write');
    const end = await transfer.ended;
    expect(end.at - filledAt).toBeLessThan(10_000);
    const refused = await curl(['-x', proxy, '-U', user, `http://127.0.0.1:${full.origin.port}/`]);
    expect(refused.status).toBe(503);
    expect(refused.headers).toMatch(/proxy-status: .*error=proxy_internal_error/i);
    expect(refused.headers).toMatch(/cannot record usage/);
    const failures = await (await fetch(`${full.gateway.adminUrl}/metrics`)).text();
    expect(failures).toMatch(/^meadow_gateway_metering_write_failures_total\{store="(ledger|usage)"\} [1-9]/m);
    // A load balancer's health check takes the gateway out of rotation meanwhile.
    const notReady = await fetch(`${full.gateway.adminUrl}/ready`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({
      ready: false,
      reasons: ['metering unavailable: it cannot write usage (see its log)'],
    });

    // Space again: the pending writes go through and traffic flows.
    await rm(join(mount, 'filler'));
    await waitFor(async () => (await metering()) === 1, 15_000, 'the gateway to write again');
    expect((await fetch(`${full.gateway.adminUrl}/ready`)).status).toBe(200);
    expect((await curl(['-x', proxy, '-U', user, `http://127.0.0.1:${full.origin.port}/`])).status).toBe(200);

    // Nothing was lost: the export verifies, and every tunnel is in the customer's usage.
    await waitForNoTunnels(full);
    const file = join(fullDir, 'export.jsonl');
    const exported = await runMeadow(['ledger', 'export', '--config', full.gateway.configPath, '--out', file]);
    expect(exported.code, exported.stderr).toBe(0);
    const verdict = await runMeadow(['ledger', 'verify', file]);
    expect(verdict.code, verdict.stdout + verdict.stderr).toBe(0);
    const report = (await (await fetch(`${full.gateway.adminUrl}/network`)).json()) as {
      customers: { list: Array<{ name: string; tunnels: number; bytes: number }> };
    };
    const demo = report.customers.list.find((c) => c.name === full.customer.name);
    expect(demo?.tunnels).toBe(3);
    expect(demo?.bytes).toBeGreaterThanOrEqual(transfer.received());
  });
});

describe('a stalled, then dropped gateway–relay link (fault proxy)', () => {
  let linked: LocalNetwork;
  let linkDir: string;
  let proxy: FaultProxy;

  beforeAll(async () => {
    linkDir = await mkdtemp(join(tmpdir(), 'meadow-link-'));
    const gatewayPort = await freePort();
    proxy = await FaultProxy.start({ host: '127.0.0.1', port: gatewayPort });
    // Relays find the gateway at the proxy's address, so every relay link runs through it.
    linked = await startLocalNetwork({
      dir: linkDir,
      relays: 2,
      countries: ['FR'],
      gatewayNetwork: {
        listen: [`/ip4/127.0.0.1/tcp/${gatewayPort}`],
        announce: [`/ip4/127.0.0.1/tcp/${proxy.port}`],
      },
    });
    await linked.waitForRoutableRelays(2, 60_000);
  }, 120_000);

  afterAll(async () => {
    await linked?.stop();
    await proxy?.stop();
    if (linkDir != null) await rm(linkDir, { recursive: true, force: true });
  });

  it('a stalled link: the tunnel errors within 10 s, the relays link again and traffic flows', async () => {
    expect(proxy.connections).toBeGreaterThanOrEqual(2);
    const { ended } = await download(linked);
    const stalledAt = performance.now();
    proxy.stall();
    const tookMs = (await ended).at - stalledAt;
    console.log(`[faults] stalled link: the tunnel ended ${Math.round(tookMs)} ms after the stall`);
    expect(tookMs).toBeLessThan(FAILURE_BUDGET_MS);
    const relinkStarted = performance.now();
    await linked.waitForRoutableRelays(2, 40_000);
    console.log(
      `[faults] stalled link: both relays linked again ${Math.round(performance.now() - relinkStarted)} ms later`,
    );
    const { ended: again } = await download(linked);
    const droppedAt = performance.now();
    proxy.drop();
    const dropMs = (await again).at - droppedAt;
    console.log(`[faults] dropped link: the tunnel ended ${Math.round(dropMs)} ms after the drop`);
    expect(dropMs).toBeLessThan(FAILURE_BUDGET_MS);
    const recoveredAt = performance.now();
    await waitFor(
      async () => {
        try {
          const socket = await socksConnect(
            linked.gateway.socks,
            { username: linked.customer.name, password: linked.customer.apiKey },
            linked.origin.host,
            linked.origin.port,
          );
          socket.destroy();
          return true;
        } catch {
          return false;
        }
      },
      30_000,
      'a tunnel after the links dropped',
    );
    console.log(`[faults] dropped link: tunnels work again ${Math.round(performance.now() - recoveredAt)} ms later`);
  });
});

/** Whether a connection to a loopback port is refused (a stopped listener). */
const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });

describe('a gateway stopped (SIGTERM) while crawlers are mid-request', () => {
  let draining: LocalNetwork;
  let drainDir: string;
  const DRAIN_MS = 20_000;

  beforeAll(async () => {
    drainDir = await mkdtemp(join(tmpdir(), 'meadow-drain-'));
    draining = await startLocalNetwork({
      dir: drainDir,
      relays: 1,
      gatewayConfig: { timeouts: { drainMs: DRAIN_MS } },
    });
    await draining.waitForRoutableRelays(1, 60_000);
  }, 120_000);

  afterAll(async () => {
    await draining?.stop();
    if (drainDir != null) await rm(drainDir, { recursive: true, force: true });
  });

  const user = () => ({ username: draining.customer.name, password: draining.customer.apiKey });
  it('refuses new connections and says so on /ready, lets an open tunnel finish a request sent after the signal, and exits once it has', async () => {
    const origin = `127.0.0.1:${draining.origin.port}`;
    const tunnel = await httpConnect(draining.gateway.http, user(), origin);
    const stoppedAt = performance.now();
    const exited = draining.gateway.service.stop(DRAIN_MS + 15_000);

    await waitFor(() => refused(draining.gateway.http.port), 5_000, 'the HTTP proxy port to refuse connections');
    expect(await refused(draining.gateway.socks.port)).toBe(true);
    const ready = await fetch(`${draining.gateway.adminUrl}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ ready: false, reasons: ['stopping: open tunnels are finishing'] });

    // A whole request on the tunnel that was open when the signal came.
    const chunks: Buffer[] = [];
    tunnel.on('data', (chunk: Buffer) => chunks.push(chunk));
    tunnel.write(`GET /bytes/3000000 HTTP/1.1\r\nHost: ${origin}\r\nConnection: close\r\n\r\n`);
    await once(tunnel, 'end');
    const response = Buffer.concat(chunks);
    const bodyStart = response.indexOf('\r\n\r\n') + 4;
    expect(response.subarray(0, 15).toString()).toBe('HTTP/1.1 200 OK');
    expect(response.byteLength - bodyStart).toBe(3_000_000);
    tunnel.destroy();

    expect(await exited).toBe(0);
    const tookMs = performance.now() - stoppedAt;
    console.log(`[faults] SIGTERM with a tunnel mid-request: exited ${Math.round(tookMs)} ms later`);
    expect(tookMs).toBeLessThan(DRAIN_MS - 5_000); // it did not wait for the whole drain time

    // The request's bytes were counted before the gateway went: its usage has them after a start.
    await draining.restartGateway();
    const account = await getJson<{ usage: { tunnels: number; bytesFromTarget: number } }>(
      `${draining.gateway.adminUrl}/customers/${draining.customer.name}`,
    );
    expect(account.usage.tunnels).toBe(1);
    expect(account.usage.bytesFromTarget).toBeGreaterThan(3_000_000);
  });

  it('answers a request in flight on a kept-alive HTTP proxy connection with Connection: close, then closes it', async () => {
    await draining.waitForRoutableRelays(1, 60_000);
    const origin = `127.0.0.1:${draining.origin.port}`;
    const socket = connect({ host: '127.0.0.1', port: draining.gateway.http.port });
    await once(socket, 'connect');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = new Promise((resolve) => socket.once('end', resolve));
    const auth = Buffer.from(`${user().username}:${user().password}`).toString('base64');
    // Half of the body now: the origin answers an upload once the whole body is in.
    socket.write(
      `POST http://${origin}/upload HTTP/1.1\r\nHost: ${origin}\r\nProxy-Authorization: Basic ${auth}\r\n` +
        `Connection: keep-alive\r\nContent-Length: 1000\r\n\r\n${'a'.repeat(500)}`,
    );
    await waitFor(
      async () => (await getJson<{ activeTunnels: number }>(`${draining.gateway.adminUrl}/status`)).activeTunnels === 1,
      10_000,
      'the forwarding tunnel open',
    );
    const stoppedAt = performance.now();
    const exited = draining.gateway.service.stop(DRAIN_MS + 15_000);
    await waitFor(() => refused(draining.gateway.http.port), 5_000, 'the HTTP proxy port to refuse connections');
    socket.write('a'.repeat(500));
    await ended;
    const response = Buffer.concat(chunks).toString('latin1');
    expect(response).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(response).toMatch(/\r\nconnection: close\r\n/i);
    expect(JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4))).toMatchObject({ bytes: 1000 });
    expect(await exited).toBe(0);
    expect(performance.now() - stoppedAt).toBeLessThan(DRAIN_MS - 5_000);
    await draining.restartGateway();
  });

  it('ends a tunnel still open when the drain time is up, and then exits', async () => {
    await draining.waitForRoutableRelays(1, 60_000);
    const tunnel = await httpConnect(draining.gateway.http, user(), `127.0.0.1:${draining.origin.port}`);
    tunnel.on('error', () => {}); // cut by the gateway: a reset is expected
    const closed = new Promise((resolve) => tunnel.once('close', resolve));
    const stoppedAt = performance.now();
    expect(await draining.gateway.service.stop(DRAIN_MS + 15_000)).toBe(0);
    await closed;
    const tookMs = performance.now() - stoppedAt;
    console.log(`[faults] SIGTERM with an idle tunnel: exited ${Math.round(tookMs)} ms later (drain ${DRAIN_MS} ms)`);
    expect(tookMs).toBeGreaterThanOrEqual(DRAIN_MS - 500);
    expect(tookMs).toBeLessThan(DRAIN_MS + 10_000);
  });
});

describe('a gateway stopped behind a load balancer (timeouts.stopNoticeMs)', () => {
  let noticed: LocalNetwork;
  let noticeDir: string;
  const NOTICE_MS = 4_000;
  const DRAIN_MS = 20_000;

  beforeAll(async () => {
    noticeDir = await mkdtemp(join(tmpdir(), 'meadow-notice-'));
    noticed = await startLocalNetwork({
      dir: noticeDir,
      relays: 1,
      gatewayConfig: { timeouts: { drainMs: DRAIN_MS, stopNoticeMs: NOTICE_MS } },
    });
    await noticed.waitForRoutableRelays(1, 60_000);
  }, 120_000);

  afterAll(async () => {
    await noticed?.stop();
    if (noticeDir != null) await rm(noticeDir, { recursive: true, force: true });
  });

  /**
   * An absolute-URI GET of 100 bytes on a new connection that asks to be kept alive; resolves with
   * the connection and the response so far once the body is in.
   */
  async function forward(): Promise<{ socket: Socket; response: () => string }> {
    const origin = `127.0.0.1:${noticed.origin.port}`;
    const auth = Buffer.from(`${noticed.customer.name}:${noticed.customer.apiKey}`).toString('base64');
    const socket = connect({ host: '127.0.0.1', port: noticed.gateway.http.port });
    let text = '';
    socket.setEncoding('latin1');
    const complete = new Promise<void>((resolve, reject) => {
      socket.on('data', (c: string) => {
        text += c;
        const head = text.indexOf('\r\n\r\n');
        if (head >= 0 && text.length - head - 4 >= 100) resolve();
      });
      socket.once('error', reject);
    });
    socket.write(
      `GET http://${origin}/bytes/100 HTTP/1.1\r\nHost: ${origin}\r\nProxy-Authorization: Basic ${auth}\r\n` +
        'Connection: keep-alive\r\n\r\n',
    );
    await complete;
    return { socket, response: () => text };
  }

  it('answers 503 on /ready at once, serves new connections until the notice is up, then refuses them and drains', async () => {
    const origin = `127.0.0.1:${noticed.origin.port}`;
    const user = { username: noticed.customer.name, password: noticed.customer.apiKey };
    // A kept-alive connection, idle when the signal comes: closed, so its client reconnects elsewhere.
    const before = await forward();
    expect(before.response()).not.toMatch(/\r\nconnection: close\r\n/i);
    const idleClosed = once(before.socket, 'close');

    const stoppedAt = performance.now();
    const exited = noticed.gateway.service.stop(NOTICE_MS + DRAIN_MS + 15_000);
    await waitFor(
      async () => (await fetch(`${noticed.gateway.adminUrl}/ready`)).status === 503,
      2_000,
      '/ready to answer 503',
    );
    const ready = (await (await fetch(`${noticed.gateway.adminUrl}/ready`)).json()) as { reasons: string[] };
    expect(ready.reasons).toHaveLength(1);
    expect(ready.reasons[0]).toMatch(/^stopping: new connections are still served for [1-4] s$/);
    await idleClosed;

    // New connections during the notice: served, each answered with Connection: close.
    const during = await forward();
    await once(during.socket, 'close');
    expect(during.response()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(during.response()).toMatch(/\r\nconnection: close\r\n/i);
    const viaSocks = await socksConnect(noticed.gateway.socks, user, noticed.origin.host, noticed.origin.port);
    viaSocks.destroy();
    const held = await httpConnect(noticed.gateway.http, user, origin);
    expect(performance.now() - stoppedAt).toBeLessThan(NOTICE_MS);

    // Then the ports close, no sooner than the notice.
    await waitFor(
      () => refused(noticed.gateway.http.port),
      NOTICE_MS + 5_000,
      'the HTTP proxy port to refuse connections',
    );
    expect(await refused(noticed.gateway.socks.port)).toBe(true);
    const closedAfterMs = performance.now() - stoppedAt;
    expect(closedAfterMs).toBeGreaterThanOrEqual(NOTICE_MS - 100);

    // The tunnel opened during the notice works through the drain.
    const chunks: Buffer[] = [];
    held.on('data', (chunk: Buffer) => chunks.push(chunk));
    held.write(`GET /bytes/100000 HTTP/1.1\r\nHost: ${origin}\r\nConnection: close\r\n\r\n`);
    await once(held, 'end');
    const response = Buffer.concat(chunks);
    expect(response.subarray(0, 15).toString()).toBe('HTTP/1.1 200 OK');
    expect(response.byteLength - (response.indexOf('\r\n\r\n') + 4)).toBe(100_000);
    held.destroy();

    expect(await exited).toBe(0);
    const tookMs = performance.now() - stoppedAt;
    console.log(
      `[faults] SIGTERM with stopNoticeMs ${NOTICE_MS}: ports closed after ${Math.round(closedAfterMs)} ms, exited after ${Math.round(tookMs)} ms`,
    );
    expect(tookMs).toBeLessThan(NOTICE_MS + DRAIN_MS - 5_000);
  });
});
