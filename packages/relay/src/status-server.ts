import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Html, hostIsLoopback } from '@meadow/protocol';
import type { Registry } from 'prom-client';
import { dashboardModel, statusBody } from './dashboard/model.ts';
import { liveSection, loginPage, overviewPage, type PageContext, settingsPage } from './dashboard/pages.ts';
import { bearerAuthorized, crossSiteReason, FormError, readForm, Sessions } from './dashboard/security.ts';
import { fieldsToSettings, type SettingsStore, settingsToFields } from './dashboard/settings-form.ts';
import { DASHBOARD_CSS } from './dashboard/style.ts';
import type { Relay } from './relay.ts';

// Not `import … from 'node:http'`: an ES import of node:http builds its whole namespace, and Node 24
// then loads its bundled fetch/WebSocket client (undici), http2 and tls, which an idle relay does
// not need (1–2 MiB resident).
const { createServer } = process.getBuiltinModule('node:http');

const LOOPBACK = ['127.0.0.1', '::1', 'localhost'];
const CONTROL_TOKEN_FILE = 'control.token';

/** The control token: random, created once in the data folder with mode 0600; needed for every change. */
export function loadOrCreateControlToken(dataDir: string): string {
  const path = join(dataDir, CONTROL_TOKEN_FILE);
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = randomBytes(24).toString('base64url');
  writeFileSync(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
  return token;
}

export interface StatusServerInit {
  listen: { host: string; port: number };
  dataDir: string;
  /** Where dashboard settings are read and saved; without it the settings page is read-only. */
  settings?: SettingsStore;
}

const HTMX = readFileSync(fileURLToPath(import.meta.resolve('htmx.org/dist/htmx.min.js')));

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  // Not no-referrer: under it browsers send `Origin: null` on form posts, and the origin check needs it.
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

/**
 * The relay's local server, on loopback only. The household dashboard (server-rendered HTML,
 * readable without JavaScript) and its API:
 *   GET  /, /settings, /login     pages;  POST /settings, /pause, /resume, /login, /logout  forms
 *   GET  /status, /earnings        JSON;   GET /metrics  Prometheus text
 *   POST /control/pause|resume     API (Authorization: Bearer <control token>)
 * Every request whose Host is not a loopback name is refused (DNS-rebinding defence); every change
 * needs the control token: as a bearer token, or as a signed-in session plus a CSRF token on forms.
 */
export async function startStatusServer(relay: Relay, registry: Registry, init: StatusServerInit): Promise<Server> {
  if (!LOOPBACK.includes(init.listen.host))
    throw new Error(`status.host must be a loopback address, got "${init.listen.host}"`);
  const token = loadOrCreateControlToken(init.dataDir);
  const tokenPath = join(init.dataDir, CONTROL_TOKEN_FILE);
  let sessions: Sessions | undefined;
  const server = createServer((req, res) => {
    route(req, res).catch((err: Error) => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', `internal error: ${err.message}`);
      else res.destroy(err);
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (!hostIsLoopback(req.headers.host))
      return json(res, 403, { error: 'Host must be 127.0.0.1, [::1] or localhost' });
    const auth = sessions as Sessions;
    const session = auth.sessionId(req);
    const ctx: PageContext = { csrf: session == null ? undefined : auth.csrfToken(session) };

    if (req.method === 'GET') {
      switch (path) {
        case '/':
          return page(res, 200, overviewPage(dashboardModel(relay), { ...ctx, notice: notice(url) }));
        case '/fragments/live':
          return page(res, 200, liveSection(statusBody(relay), ctx));
        case '/settings': {
          const values = init.settings == null ? undefined : settingsToFields(await init.settings.read());
          return page(res, 200, settingsPage(statusBody(relay), values, {}, { ...ctx, notice: notice(url) }));
        }
        case '/login':
          return page(res, 200, loginPage(undefined, tokenPath));
        case '/favicon.ico':
          return send(res, 204, 'image/x-icon', '');
        case '/assets/dashboard.css':
          return send(res, 200, 'text/css; charset=utf-8', DASHBOARD_CSS, 'public, max-age=300');
        case '/assets/htmx.min.js':
          return send(res, 200, 'text/javascript; charset=utf-8', HTMX, 'public, max-age=3600');
        case '/status':
          return json(res, 200, statusBody(relay));
        case '/earnings':
          return json(res, 200, { relay: relay.peerId, epochs: relay.earnings(), bytes: relay.bytesOnTheirWay() });
        case '/metrics': {
          const text = await registry.metrics();
          return send(res, 200, registry.contentType, text);
        }
      }
      return json(res, 404, {
        error: 'not found',
        paths: ['/', '/settings', '/status', '/earnings', '/metrics', 'POST /control/pause', 'POST /control/resume'],
      });
    }
    if (req.method !== 'POST') return json(res, 405, { error: 'method not allowed' });

    if (path === '/control/pause' || path === '/control/resume') {
      if (!bearerAuthorized(req, token))
        return json(res, 401, { error: 'missing or wrong control token (Authorization: Bearer …)' });
      if (path === '/control/pause') relay.controls.pause();
      else relay.controls.resume();
      return json(res, 200, relay.controls.state);
    }
    const crossSite = crossSiteReason(req);
    if (crossSite != null) return text(res, 403, `refused: a cross-site request (${crossSite})`);
    let form: URLSearchParams;
    try {
      form = await readForm(req);
    } catch (err) {
      if (err instanceof FormError) return text(res, err.status, err.message);
      throw err;
    }
    if (path === '/login') {
      const id = auth.login(form.get('token') ?? '');
      if (id == null) return page(res, 401, loginPage('That is not the control token.', tokenPath));
      res.setHeader('set-cookie', auth.setCookie(id));
      return redirect(res, '/');
    }
    if (session == null) return page(res, 401, loginPage('Sign in first: changes need the control token.', tokenPath));
    if (!auth.csrfValid(session, form.get('csrf')))
      return text(
        res,
        403,
        'refused: the form is stale or from another site (CSRF token missing or wrong); reload the page',
      );
    switch (path) {
      case '/logout':
        auth.logout(req);
        res.setHeader('set-cookie', auth.clearCookie());
        return redirect(res, '/');
      case '/pause':
        relay.controls.pause();
        return redirect(res, '/?notice=paused');
      case '/resume':
        relay.controls.resume();
        return redirect(res, '/?notice=resumed');
      case '/settings':
        return saveSettings(res, form, ctx);
    }
    return json(res, 404, { error: 'not found' });
  }

  async function saveSettings(res: ServerResponse, form: URLSearchParams, ctx: PageContext): Promise<void> {
    if (init.settings == null) return text(res, 409, 'this relay has no config file to save settings to');
    const parsed = fieldsToSettings(form);
    if (!parsed.ok) return page(res, 400, settingsPage(statusBody(relay), parsed.values, parsed.errors, ctx));
    const saved = await init.settings.save(parsed.settings);
    if (!saved.ok) return page(res, 400, settingsPage(statusBody(relay), parsed.values, saved.errors, ctx));
    relay.controls.reconfigure(saved.household);
    return redirect(res, '/settings?notice=saved');
  }

  server.listen(init.listen.port, init.listen.host);
  await once(server, 'listening');
  sessions = new Sessions(token, (server.address() as AddressInfo).port);
  return server;
}

const NOTICES: Record<string, string> = {
  saved: 'Saved to the config file and applied.',
  paused: 'Paused: no new tunnels; open ones finish.',
  resumed: 'Sharing again.',
};

function notice(url: URL): string | undefined {
  return NOTICES[url.searchParams.get('notice') ?? ''];
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, cache?: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, ...(cache ? { 'cache-control': cache } : {}) });
  res.end(body);
}

function page(res: ServerResponse, status: number, body: Html): void {
  send(res, status, 'text/html; charset=utf-8', body.text);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json', JSON.stringify(body));
}

function text(res: ServerResponse, status: number, body: string): void {
  send(res, status, 'text/plain; charset=utf-8', `${body}\n`);
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { ...SECURITY_HEADERS, location }).end();
}

export function serverUrl(server: Server): string {
  const { address, port } = server.address() as AddressInfo;
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
}
