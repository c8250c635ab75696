import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalNetwork, type LocalRelay, startLocalNetwork } from '@meadow/cli';
import type { NetworkReport } from '@meadow/gateway';
import type { EpochHeader, LedgerEntry } from '@meadow/ledger';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, runMeadow, socksConnect, waitFor, waitForNoTunnels } from './harness.ts';
import { launchChromium } from './services/chromium.ts';

// The household dashboard and the gateway's network health page, in a real chromium against a
// real local network: what the pages show must be what the APIs and the ledger say.

interface Status {
  state: string;
  activeTunnels: number;
  bytes: { allTime: { bytesToTarget: number; bytesFromTarget: number } };
  cap: { bytes: number; remainingBytes: number } | null;
  rateLimit: { fromTargetBytesPerSecond: number; toTargetBytesPerSecond: number } | null;
  gateways: unknown[];
  yieldToHousehold: { aboveDelayMs: number; queueDelayMs: number | null; ceilingBytesPerSecond: number | null };
  quality: { score: number | null; successRate: { value: number | null; attempts: number } };
}

interface Earnings {
  relay: string;
  epochs: Array<{ gateway: string; epoch: number; bytes: number; micros: number; proofVerified: boolean }>;
  bytes: Array<{
    gateway: string;
    carriedBytes: number;
    settledBytes: number;
    awaitingCloseBytes: number;
    awaitingReceiptBytes: number;
  }>;
}

let net: LocalNetwork;
let dir: string;
let relay: LocalRelay;
let browser: Browser;
let screenshots: string;
const aliases = ['evil.example', 'attacker.test'];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-dashboard-'));
  screenshots = process.env.MEADOW_SCREENSHOTS ?? join(dir, 'screenshots');
  await mkdir(screenshots, { recursive: true });
  [net, browser] = await Promise.all([
    startLocalNetwork({
      dir,
      relays: 2,
      countries: ['DE', 'FR'],
      gatewayConfig: { ledger: { epochSeconds: 4, receiptIntervalSeconds: 1 } },
    }),
    launchChromium({ hostAliases: aliases }),
  ]);
  relay = net.relays[0] as LocalRelay;
  await net.waitForRoutableRelays(2, 60_000);
  for (let i = 0; i < 4; i++) await download('DE', 400_000);
  await download('FR', 200_000);
  // Settled epochs reach the relay after the gateway closes them.
  await waitFor(
    async () => (await getJson<Earnings>(`${relay.statusUrl}/earnings`)).epochs.some((e) => e.bytes > 0),
    30_000,
    'a settled epoch with co-signed bytes on the relay',
  );
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function download(country: string, bytes: number): Promise<number> {
  const socket = await socksConnect(
    net.gateway.socks,
    { username: `${net.customer.name}-country-${country}`, password: net.customer.apiKey },
    net.origin.host,
    net.origin.port,
  );
  let received = 0;
  socket.on('data', (c: Buffer) => {
    received += c.byteLength;
  });
  socket.write(`GET /bytes/${bytes} HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n`);
  await once(socket, 'close');
  return received;
}

function controlToken(): Promise<string> {
  return readFile(join(dir, 'relay-1-data', 'control.token'), 'utf8').then((t) => t.trim());
}

async function signedIn(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${relay.statusUrl}/login`);
  await page.fill('#token', await controlToken());
  await Promise.all([page.waitForURL(`${relay.statusUrl}/`), page.click('#signin')]);
  return { context, page };
}

const attr = async (page: Page, selector: string, name: string): Promise<string | null> =>
  page.locator(selector).getAttribute(name);

/** Raw HTTP, so tests can send what browsers never would (a foreign Host, a forged Origin). */
function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('error', reject);
    req.end(options.body);
  });
}

async function exportedEpochs(): Promise<EpochHeader[]> {
  const file = join(dir, `export-${Date.now()}.jsonl`);
  const out = await runMeadow(['ledger', 'export', '--config', net.gateway.configPath, '--out', file]);
  expect(out.code, out.stderr).toBe(0);
  const lines = (await readFile(file, 'utf8')).trim().split('\n');
  return lines
    .map((l) => JSON.parse(l) as LedgerEntry & { kind?: string })
    .filter((e) => e.kind === 'epoch')
    .map((e) => e.body as EpochHeader);
}

describe('household dashboard (chromium)', () => {
  it('shows the status API figures and each settled epoch as the ledger has it, with its proof ✓', async () => {
    await waitForNoTunnels(net);
    const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
    await page.goto(`${relay.statusUrl}/`);
    const status = await getJson<Status>(`${relay.statusUrl}/status`);
    const earnings = await getJson<Earnings>(`${relay.statusUrl}/earnings`);
    const headers = await exportedEpochs();

    expect(await page.locator('#state').getAttribute('data-state')).toBe(status.state);
    expect(Number(await attr(page, '#active-tunnels', 'data-value'))).toBe(status.activeTunnels);
    const allTime = status.bytes.allTime.bytesToTarget + status.bytes.allTime.bytesFromTarget;
    expect(allTime).toBeGreaterThan(1_600_000);
    expect(Number(await attr(page, '#bytes-all', 'data-bytes'))).toBe(allTime);
    expect(Number(await attr(page, '#gateways', 'data-count'))).toBe(status.gateways.length);
    expect(status.gateways.length).toBeGreaterThan(0);
    // A network on one machine turns yielding off (loopback is no household's line), and says so.
    expect(status.yieldToHousehold).toEqual({ aboveDelayMs: 0, queueDelayMs: null, ceilingBytesPerSecond: null });
    expect(await page.locator('#yield').textContent()).toContain('Your own traffic first is off');
    // The period chart holds every byte of today's traffic (this network is minutes old).
    expect(Number(await attr(page, '#chart-today', 'data-total-bytes'))).toBe(allTime);

    const rows = await page.locator('tr.epoch').evaluateAll((trs) =>
      trs.map((tr) => ({
        gateway: tr.getAttribute('data-gateway'),
        epoch: Number(tr.getAttribute('data-epoch')),
        bytes: Number(tr.getAttribute('data-bytes')),
        micros: Number(tr.getAttribute('data-micros')),
        epochBytes: Number(tr.getAttribute('data-epoch-bytes')),
        poolMicros: Number(tr.getAttribute('data-pool-micros')),
        verified: tr.getAttribute('data-verified'),
        proofCell: tr.lastElementChild?.textContent?.trim(),
      })),
    );
    expect(rows.length).toBe(earnings.epochs.length);
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      const api = earnings.epochs.find((e) => e.epoch === row.epoch && e.gateway === row.gateway);
      expect(api, `epoch ${row.epoch} in /earnings`).toBeDefined();
      expect(row).toMatchObject({ bytes: api?.bytes, micros: api?.micros, verified: 'true', proofCell: '✓' });
      const header = headers.find((h) => h.epoch === row.epoch && h.gateway === row.gateway);
      expect(header, `epoch ${row.epoch} in the ledger export`).toBeDefined();
      // The share the page shows is of every relay's co-signed bytes in the epoch, and of its pool.
      expect({ epochBytes: row.epochBytes, poolMicros: row.poolMicros }).toEqual({
        epochBytes: header?.rewards.reduce((sum, r) => sum + r.bytes, 0),
        poolMicros: header?.providerPoolMicros,
      });
      const line = header?.rewards.find((r) => r.relay === earnings.relay);
      if (row.bytes === 0) {
        // A receipt co-signed after a tunnel opened but before its first byte, left as the relay's
        // last of the epoch: settled with its proof, but the header pays only relays that carried bytes.
        expect(line, `epoch ${row.epoch}: no reward line for a relay that carried nothing`).toBeUndefined();
        expect(row.micros).toBe(0);
      } else {
        expect(line, `epoch ${row.epoch}'s reward line in the ledger export`).toBeDefined();
        expect({ bytes: row.bytes, micros: row.micros }).toEqual({ bytes: line?.bytes, micros: line?.micros });
      }
    }
    const total = rows.reduce((sum, r) => sum + r.micros, 0);
    expect(Number(await attr(page, '#earnings-total', 'data-micros'))).toBe(total);
    // The command line says the same: the total of the epochs whose proof this machine checked.
    const cli = await runMeadow(['relay', 'status', '--config', relay.configPath]);
    const epochs = earnings.epochs.filter((e) => e.proofVerified).length;
    expect(cli.stdout).toMatch(/^own traffic +the relay never slows down for it \(rateLimit\.yieldAboveDelayMs: 0\)$/m);
    expect(cli.stdout).toMatch(
      new RegExp(
        `^earned +\\d+\\.\\d{6} \\(${total.toLocaleString('en')} micro-units\\) in ${epochs} settled epochs?, each proof checked here$`,
        'm',
      ),
    );

    // Quality: five successful connections so far, no failures.
    expect(status.quality.successRate).toMatchObject({ value: 1 });
    expect(await page.locator('#quality-success').textContent()).toContain(
      `100.0% of ${status.quality.successRate.attempts}`,
    );
    const shownScore = Number(await attr(page, '#quality-score', 'data-score'));
    expect(Math.abs(shownScore - (status.quality.score as number))).toBeLessThan(0.02);

    await page.screenshot({ path: join(screenshots, 'relay-dashboard.png'), fullPage: true });
    await page.close();
  });

  it('shows where every byte it carried stands; once all is settled, the ledger paid for exactly those bytes', async () => {
    await waitForNoTunnels(net);
    let bytes: Earnings['bytes'] = [];
    await waitFor(
      async () => {
        bytes = (await getJson<Earnings>(`${relay.statusUrl}/earnings`)).bytes;
        return bytes.length > 0 && bytes.every((b) => b.awaitingCloseBytes === 0 && b.awaitingReceiptBytes === 0);
      },
      30_000,
      'every byte the relay carried to be in a settled epoch',
    );
    const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
    await page.goto(`${relay.statusUrl}/`);
    const rows = await page.locator('tr.gateway-bytes').evaluateAll((trs) =>
      trs.map((tr) => ({
        gateway: tr.getAttribute('data-gateway'),
        carriedBytes: Number(tr.getAttribute('data-carried')),
        settledBytes: Number(tr.getAttribute('data-settled')),
        awaitingCloseBytes: Number(tr.getAttribute('data-awaiting-close')),
        awaitingReceiptBytes: Number(tr.getAttribute('data-awaiting-receipt')),
      })),
    );
    expect(rows).toEqual(
      bytes.map(({ gateway, carriedBytes, settledBytes, awaitingCloseBytes, awaitingReceiptBytes }) => ({
        gateway,
        carriedBytes,
        settledBytes,
        awaitingCloseBytes,
        awaitingReceiptBytes,
      })),
    );
    await page.screenshot({ path: join(screenshots, 'dashboard-bytes-on-their-way.png'), fullPage: true });
    await page.close();
    // Carried as the household's own usage counter has it, and paid as the gateway's signed headers say.
    const status = await getJson<Status>(`${relay.statusUrl}/status`);
    const carried = bytes.reduce((sum, b) => sum + b.carriedBytes, 0);
    expect(carried).toBe(status.bytes.allTime.bytesToTarget + status.bytes.allTime.bytesFromTarget);
    const paid = (await exportedEpochs())
      .flatMap((h) => h.rewards)
      .filter((r) => r.relay === relay.peerId)
      .reduce((sum, r) => sum + r.bytes, 0);
    expect(bytes.reduce((sum, b) => sum + b.settledBytes, 0)).toBe(paid);
    expect(paid).toBe(carried);
    const cli = await runMeadow(['relay', 'status', '--config', relay.configPath]);
    expect(cli.stdout).toMatch(/^to be paid +nothing: every byte carried is in a settled epoch$/m);
  });

  it('pauses and resumes from the page: the relay state and the gateway follow', async () => {
    const { context, page } = await signedIn();
    await Promise.all([page.waitForURL(/notice=paused/), page.click('#pause')]);
    expect(await attr(page, '#state', 'data-state')).toBe('paused');
    expect((await getJson<Status>(`${relay.statusUrl}/status`)).state).toBe('paused');
    await waitFor(
      async () => {
        const gw = await getJson<{ relays: Array<{ peerId: string; routable: boolean }> }>(
          `${net.gateway.adminUrl}/status`,
        );
        return gw.relays.find((r) => r.peerId === relay.peerId)?.routable === false;
      },
      15_000,
      'the gateway to stop routing to the paused relay',
    );
    await Promise.all([page.waitForURL(/notice=resumed/), page.click('#resume')]);
    expect(await attr(page, '#state', 'data-state')).toBe('serving');
    expect((await getJson<Status>(`${relay.statusUrl}/status`)).state).toBe('serving');
    await context.close();
  });

  it('refreshes the live section by itself (htmx) when the state changes elsewhere', async () => {
    const page = await browser.newPage();
    await page.goto(`${relay.statusUrl}/`);
    expect(await attr(page, '#state', 'data-state')).toBe('serving');
    const token = await controlToken();
    const pause = await rawRequest(`${relay.statusUrl}/control/pause`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(pause.status).toBe(200);
    // No reload: the page's own request to /fragments/live brings the new state within a few seconds.
    await page.locator('#state[data-state="paused"]').waitFor({ timeout: 12_000 });
    expect(page.url()).toBe(`${relay.statusUrl}/`);
    await rawRequest(`${relay.statusUrl}/control/resume`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    await page.locator('#state[data-state="serving"]').waitFor({ timeout: 12_000 });
    await page.close();
  });

  it('refuses a wrong token at sign-in and shows why', async () => {
    const page = await browser.newPage();
    await page.goto(`${relay.statusUrl}/login`);
    await page.fill('#token', 'not-the-token');
    await page.click('#signin');
    await expect(page.locator('#login-error').textContent()).resolves.toContain('not the control token');
    expect(await page.context().cookies()).toEqual([]);
    await page.close();
  });

  it('shows a bad setting next to its field and changes nothing', async () => {
    const before = await readFile(relay.configPath, 'utf8');
    const statusBefore = await getJson<Status>(`${relay.statusUrl}/status`);
    const { context, page } = await signedIn();
    await page.goto(`${relay.statusUrl}/settings`);

    await page.fill('[id="dataCap.bytes"]', 'lots');
    const bad = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.click('#save')]);
    expect(bad[0].status()).toBe(400);
    await expect(page.locator('[id="error-dataCap.bytes"]').textContent()).resolves.toContain(
      'dataCap.bytes: must be a number of GB',
    );
    // What was typed stays in the field, for the household to correct.
    expect(await page.inputValue('[id="dataCap.bytes"]')).toBe('lots');

    await page.fill('[id="dataCap.bytes"]', '1');
    await page.fill('[id="schedule.timezone"]', 'Mars/Olympus_Mons');
    await page.click('#save');
    await expect(page.locator('[id="error-schedule.timezone"]').textContent()).resolves.toContain(
      'is not an IANA time zone',
    );

    await page.fill('[id="schedule.timezone"]', 'Europe/Berlin');
    await page.fill('[id="schedule.windows"]', 'mon-fri 18:00-23:30\nweekends 25:00-26:00');
    await page.click('#save');
    await expect(page.locator('[id="error-schedule.windows"]').textContent()).resolves.toContain('line 2');

    await page.fill('[id="schedule.windows"]', 'mon 07:00-25:00');
    await page.click('#save');
    await expect(page.locator('[id="error-schedule.windows"]').textContent()).resolves.toContain(
      'must be a time of day',
    );
    await page.screenshot({ path: join(screenshots, 'relay-settings-error.png'), fullPage: true });

    expect(await readFile(relay.configPath, 'utf8')).toBe(before);
    const statusAfter = await getJson<Status>(`${relay.statusUrl}/status`);
    expect({ cap: statusAfter.cap, rate: statusAfter.rateLimit }).toEqual({
      cap: statusBefore.cap,
      rate: statusBefore.rateLimit,
    });
    await context.close();
  });

  it('saves good settings to the config file, keeping its comments, and applies them without a restart', async () => {
    const original = await readFile(relay.configPath, 'utf8');
    await writeFile(relay.configPath, `# my relay, set up on the attic PC\n${original}`);
    const pid = relay.service.process.pid;
    const { context, page } = await signedIn();
    await page.goto(`${relay.statusUrl}/settings`);
    await page.fill('[id="dataCap.bytes"]', '2.5');
    await page.selectOption('[id="dataCap.period"]', 'day');
    await page.fill('[id="dataCap.start"]', '00:00');
    await page.fill('[id="rateLimit.fromTargetBytesPerSecond"]', '40');
    await page.fill('[id="schedule.timezone"]', 'Europe/Berlin');
    await page.fill('[id="schedule.windows"]', '');
    await Promise.all([page.waitForURL(/notice=saved/), page.click('#save')]);
    expect(await page.inputValue('[id="dataCap.bytes"]')).toBe('2.5');

    const status = await getJson<Status>(`${relay.statusUrl}/status`);
    expect(status.cap?.bytes).toBe(2_500_000_000);
    expect(status.rateLimit?.fromTargetBytesPerSecond).toBe(5_000_000);
    const saved = await readFile(relay.configPath, 'utf8');
    expect(saved).toContain('# my relay, set up on the attic PC');
    expect(saved).toMatch(/bytes: 2500000000/);
    expect(saved).toMatch(/fromTargetBytesPerSecond: 5000000/);
    expect(saved).toMatch(/timezone: Europe\/Berlin/);
    expect(relay.service.process.pid).toBe(pid);
    // The relay still carries tunnels under the new settings, and counts them against the new cap.
    expect(await download('DE', 100_000)).toBeGreaterThan(100_000);
    const after = await getJson<Status>(`${relay.statusUrl}/status`);
    expect(after.cap?.remainingBytes).toBeLessThan(2_500_000_000);
    await page.goto(`${relay.statusUrl}/`);
    await page.screenshot({ path: join(screenshots, 'relay-dashboard-capped.png'), fullPage: true });
    await context.close();
  });

  it('refuses a foreign Host (DNS rebinding), cross-site posts and changes without the token', async () => {
    const port = new URL(relay.statusUrl).port;
    // A name that resolves to 127.0.0.1, as after a rebinding attack: the server answers 403.
    const page = await browser.newPage();
    const rebound = await page.goto(`http://evil.example:${port}/status`);
    expect(rebound?.status()).toBe(403);
    expect((await rawRequest(`${relay.statusUrl}/`, { headers: { host: 'evil.example' } })).status).toBe(403);
    expect((await rawRequest(`${net.gateway.adminUrl}/network`, { headers: { host: 'evil.example' } })).status).toBe(
      403,
    );

    // An attacker's page that auto-submits a form to the dashboard: SameSite keeps the session
    // cookie home, and Sec-Fetch-Site marks the post cross-site.
    const { context, page: signedPage } = await signedIn();
    const attacker: Server = createServer((_req, res) => {
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end(
          `<form method="post" action="${relay.statusUrl}/pause"><input name="csrf" value="guess"></form><script>document.forms[0].submit()</script>`,
        );
    });
    attacker.listen(0, '127.0.0.1');
    await once(attacker, 'listening');
    const attackerPort = (attacker.address() as AddressInfo).port;
    const posted = signedPage.waitForResponse((r) => r.url().endsWith('/pause'));
    await signedPage.goto(`http://attacker.test:${attackerPort}/`);
    expect((await posted).status()).toBe(403);
    attacker.close();

    const cookie = (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const form = { 'content-type': 'application/x-www-form-urlencoded', cookie };
    const forgedOrigin = await rawRequest(`${relay.statusUrl}/pause`, {
      method: 'POST',
      headers: { ...form, origin: 'http://evil.example' },
      body: 'csrf=x',
    });
    expect(forgedOrigin.status).toBe(403);
    const noCsrf = await rawRequest(`${relay.statusUrl}/pause`, { method: 'POST', headers: form, body: '' });
    expect(noCsrf).toMatchObject({ status: 403, body: expect.stringContaining('CSRF') });
    const noSession = await rawRequest(`${relay.statusUrl}/pause`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'csrf=x',
    });
    expect(noSession.status).toBe(401);
    expect((await rawRequest(`${relay.statusUrl}/control/pause`, { method: 'POST' })).status).toBe(401);
    expect((await getJson<Status>(`${relay.statusUrl}/status`)).state).toBe('serving');
    await context.close();
    await page.close();
  });
});

describe('gateway network health page (chromium)', () => {
  it('shows active relays by country, utilisation, revenue per epoch and customer usage as /network and the ledger say', async () => {
    await waitForNoTunnels(net);
    const page = await browser.newPage({ viewport: { width: 1100, height: 1200 } });
    await page.goto(`${net.gateway.adminUrl}/`);
    const report = await getJson<NetworkReport>(`${net.gateway.adminUrl}/network`);
    const headers = await exportedEpochs();

    expect(report.relays).toMatchObject({ active: 2, byCountry: { DE: 1, FR: 1 } });
    expect(Number(await attr(page, '#active-relays', 'data-value'))).toBe(report.relays.active);
    for (const [country, count] of Object.entries(report.relays.byCountry))
      expect(Number(await attr(page, `tr[data-country="${country}"]`, 'data-count'))).toBe(count);

    // Each relay by itself, with what it carried as the gateway's live counters say (no tunnel is open).
    const usage = await getJson<{ relays: Record<string, { bytesToTarget: number; bytesFromTarget: number }> }>(
      `${net.gateway.adminUrl}/usage`,
    );
    expect(report.relays.list).toHaveLength(report.relays.linked);
    const listed = await page.locator('#relay-list tr.relay').evaluateAll((trs) =>
      trs.map((tr) => ({
        peer: tr.getAttribute('data-peer') as string,
        bytes: Number(tr.getAttribute('data-bytes')),
        state: tr.getAttribute('data-state'),
      })),
    );
    expect(listed.map((r) => r.peer).sort()).toEqual(net.relays.map((r) => r.peerId).sort());
    for (const row of listed) {
      const carried = usage.relays[row.peer];
      expect(row.bytes).toBe((carried?.bytesToTarget ?? 0) + (carried?.bytesFromTarget ?? 0));
      expect(row.state).toBe('routable');
    }
    expect(listed.map((r) => r.bytes)).toEqual([...listed.map((r) => r.bytes)].sort((a, b) => b - a));
    expect(listed.some((r) => r.bytes > 0)).toBe(true);

    expect(report.utilisation.servedBytes).toBeGreaterThan(0);
    // Two relays advertising 12.5 MB/s each (the average dips while one was paused by an earlier test).
    expect(report.utilisation.advertisedBytesPerSecond).toBeGreaterThan(12_500_000);
    expect(report.utilisation.advertisedBytesPerSecond).toBeLessThanOrEqual(25_000_000);
    expect(report.utilisation.ratio).toBeGreaterThan(0);
    expect(Number(await attr(page, '#utilisation', 'data-ratio'))).toBeGreaterThan(0);

    const rows = await page.locator('#revenue tr.epoch').evaluateAll((trs) =>
      trs.map((tr) => ({
        epoch: Number(tr.getAttribute('data-epoch')),
        micros: Number(tr.getAttribute('data-revenue-micros')),
      })),
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      const header = headers.find((h) => h.epoch === row.epoch);
      expect(row.micros).toBe(header?.revenueMicros);
      expect(row.micros).toBe(report.revenue.epochs.find((e) => e.epoch === row.epoch)?.revenueMicros);
    }
    expect(headers.some((h) => h.revenueMicros > 0)).toBe(true);

    const demo = report.customers.list.find((c) => c.name === net.customer.name);
    expect(demo?.bytes).toBeGreaterThan(1_800_000);
    expect(demo?.active).toBe(true);
    expect(report.customers.active).toBeGreaterThanOrEqual(1);
    expect(Number(await attr(page, `tr[data-customer="${net.customer.name}"]`, 'data-bytes'))).toBe(demo?.bytes);
    expect(Number(await attr(page, '#active-customers', 'data-value'))).toBe(report.customers.active);
    await page.screenshot({ path: join(screenshots, 'gateway-network.png'), fullPage: true });
    await page.close();
  });
});
