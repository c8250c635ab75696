import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalNetwork, startLocalNetwork } from '@meadow/cli';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForNoTunnels } from './harness.ts';
import { launchChromium } from './services/chromium.ts';
import { selfSignedCertificate } from './services/self-signed.ts';

// A headless Chromium crawling through the gateway's HTTP proxy port, as crawlers that render
// pages do (Playwright, Puppeteer): an https page over CONNECT with its images, script and fetch
// on several connections at once, and an http page as an absolute-URI request. Chromium sends no
// credentials until the gateway's 407 asks for them.

let net: LocalNetwork;
let dir: string;
let site: Server;
let siteUrl: string;
let browser: Browser;
/**
 * Every request the https site served: its path, the address it came from (a relay's egress) and
 * the port (one per relay connection, so one per tunnel).
 */
const served: Array<{ path: string; from: string; port: number }> = [];

const IMAGES = 6;
const PAGE = `<!doctype html><title>meadow</title>
${Array.from({ length: IMAGES }, (_, i) => `<img src="/pixel.svg?i=${i}" width="1" height="1">`).join('\n')}
<script src="/app.js"></script>`;
const APP = `fetch('/whoami').then((r) => r.json()).then((j) => { document.body.dataset.youAre = j.youAre; });`;
const PIXEL = '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-browser-'));
  const certificate = await selfSignedCertificate(dir);
  site = createServer(
    { cert: certificate.cert, key: await readFile(certificate.keyFile), keepAliveTimeout: 30_000 },
    (req, res) => {
      const from = req.socket.remoteAddress ?? '';
      const path = new URL(req.url ?? '/', 'https://x').pathname;
      served.push({ path, from, port: req.socket.remotePort ?? 0 });
      const body =
        path === '/'
          ? ['text/html', PAGE]
          : path === '/app.js'
            ? ['text/javascript', APP]
            : path === '/pixel.svg'
              ? ['image/svg+xml', PIXEL]
              : ['application/json', JSON.stringify({ youAre: from })];
      res.writeHead(200, { 'content-type': body[0] as string, 'cache-control': 'no-store' }).end(body[1]);
    },
  );
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  const port = (site.address() as AddressInfo).port;
  siteUrl = `https://127.0.0.1:${port}`;
  net = await startLocalNetwork({ dir, relays: 3, extraAllowedTargets: [`127.0.0.1:${port}`] });
  await net.waitForRoutableRelays(3, 60_000);
  // Chromium sends loopback addresses past any proxy unless told not to.
  browser = await launchChromium({ args: ['--proxy-bypass-list=<-loopback>'] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await net?.stop();
  await new Promise((resolve) => site?.close(resolve));
  if (dir != null) await rm(dir, { recursive: true, force: true });
});

function contextFor(username: string, password = net.customer.apiKey): Promise<BrowserContext> {
  return browser.newContext({
    proxy: { server: `http://127.0.0.1:${net.gateway.http.port}`, username, password },
    ignoreHTTPSErrors: true,
  });
}

describe('a headless Chromium crawling through the gateway', () => {
  it('renders an https page whose every resource, fetched over several tunnels, leaves from its session relay', async () => {
    const context = await contextFor(`${net.customer.name}-session-browser1`);
    try {
      const page = await context.newPage();
      served.length = 0;
      const response = await page.goto(`${siteUrl}/`);
      expect(response?.status()).toBe(200);
      // Page scripts as strings: the tests are compiled without the DOM's types.
      await page.waitForFunction('document.body.dataset.youAre != null', undefined, { timeout: 20_000 });
      const loaded = await page.evaluate('[...document.images].filter((i) => i.complete && i.naturalWidth > 0).length');
      expect(loaded).toBe(IMAGES);

      const exits = new Set(served.map((s) => s.from));
      // Chromium may also ask for /favicon.ico, through the same session.
      expect(
        served
          .map((s) => s.path)
          .filter((p) => p !== '/favicon.ico')
          .sort(),
      ).toEqual(['/', '/app.js', '/whoami', ...Array.from({ length: IMAGES }, () => '/pixel.svg')].sort());
      expect(exits.size).toBe(1);
      expect(new Set(served.map((s) => s.port)).size).toBeGreaterThan(1);
      const exit = [...exits][0];
      expect(net.relays.map((r) => r.egressAddress)).toContain(exit);
      expect(await page.locator('body').getAttribute('data-you-are')).toBe(exit);

      // The same session's http page, as an absolute-URI request: the same exit, named in the headers.
      const plain = await page.goto(net.origin.url);
      expect(plain?.status()).toBe(200);
      expect(JSON.parse((await plain?.text()) ?? '{}').youAre).toBe(exit);
      const headers = plain?.headers() ?? {};
      expect(headers['x-meadow-session']).toBe('kept');
      expect(net.relays.find((r) => r.egressAddress === exit)?.peerId).toBe(headers['x-meadow-relay']);
    } finally {
      await context.close();
    }
    await waitForNoTunnels(net);
  });

  it('without a session, spreads page loads over the relays', async () => {
    const exits = new Set<string>();
    for (let i = 0; i < 12; i++) {
      // A context per load: within one, Chromium keeps its proxy connection, and a kept-alive
      // connection keeps its relay (rotation is per connection, docs/username.md).
      const context = await contextFor(net.customer.name);
      try {
        const res = await (await context.newPage()).goto(`${net.origin.url}?load=${i}`);
        exits.add(JSON.parse((await res?.text()) ?? '{}').youAre);
      } finally {
        await context.close();
      }
    }
    expect(exits.size).toBeGreaterThan(1);
    for (const exit of exits) expect(net.relays.map((r) => r.egressAddress)).toContain(exit);
  });

  it("shows a wrong API key as the gateway's 407 or a failed navigation, never as the page", async () => {
    const context = await contextFor(net.customer.name, 'not-the-key');
    try {
      const before = served.length;
      // CONNECT: Chromium shows no proxy's answer to a CONNECT as a page, only a network error.
      const overConnect = await (await context.newPage()).goto(`${siteUrl}/`).then(
        (res) => `status ${res?.status()}`,
        (err: Error) => err.message,
      );
      expect(overConnect).toMatch(/^page\.goto: net::ERR_/);
      expect(served.length).toBe(before);
      // Absolute-URI: the gateway's own 407, after Chromium's try with the wrong key.
      const forwarded = await (await context.newPage()).goto(net.origin.url);
      expect(forwarded?.status()).toBe(407);
      expect(forwarded?.headers()['proxy-authenticate']).toBe('Basic realm="meadow"');
      expect(await forwarded?.text()).not.toContain('youAre');
    } finally {
      await context.close();
    }
  });
});
