import { Agent, request as httpRequest, type IncomingMessage, Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { bridge, MeadowError, normalizeTarget, resetSocket, type Target, type Tunnel } from '@meadow/protocol';
import { ACCOUNT_PATH, handleAccount } from './account-page.ts';
import { parseConnectHead } from './connect-head.ts';
import { parseBasicCredentials } from './customers.ts';
import { exitHeaderLines, exitHeaderPairs, isMeadowHeader } from './exit-headers.ts';
import { asMeadowError, sendErrorResponse, writeRawErrorResponse } from './proxy-errors.ts';
import type { TunnelExit, TunnelService } from './tunnel-service.ts';

/** Headers that belong to one hop and are never forwarded (RFC 9110 §7.6.1), plus proxy credentials. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export interface HttpProxyInit {
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
}

export function parseAuthority(authority: string): Target {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(authority);
  if (m == null) throw new MeadowError('MEADOW_ERR_BAD_REQUEST', `CONNECT target "${authority}" must be host:port`);
  try {
    return normalizeTarget(m[1] as string, Number(m[2]));
  } catch (err) {
    throw new MeadowError('MEADOW_ERR_BAD_REQUEST', (err as Error).message);
  }
}

/**
 * HTTP proxy: CONNECT tunnels, and absolute-URI forwarding for http:// with keep-alive on both sides.
 *
 * A connection whose first read is a complete, plainly well-formed CONNECT head (what crawlers
 * send) becomes a tunnel without passing through Node's HTTP machinery (`connect-head.ts`); every
 * other connection, first bytes included, goes to Node's server as if it had accepted it itself.
 */
export class HttpProxyServer extends Server {
  /**
   * Connections whose request head has not been read, with when they were accepted: one deadline
   * from accept to the end of the head, also for a head handed to Node after its first bytes.
   */
  private readonly awaitingHead = new Map<Socket, number>();
  private sweep: NodeJS.Timeout | undefined;
  /** Responses not yet finished, so that a drain can end their connections after them. */
  private readonly responding = new Set<ServerResponse>();
  private draining = false;

  constructor(service: TunnelService, init: HttpProxyInit) {
    super({
      maxHeaderSize: 64 * 1024,
      headersTimeout: init.handshakeTimeoutMs,
      // Node checks headersTimeout only this often (30 s by default): a client that never ends its
      // request head would hold the socket that long, whatever the timeout says (found by fuzzing).
      connectionsCheckingInterval: checkingIntervalMs(init.handshakeTimeoutMs),
      requestTimeout: 0,
      keepAliveTimeout: init.idleTimeoutMs,
      insecureHTTPParser: false,
    });
    const nodeConnection = this.listeners('connection')[0] as (socket: Socket) => void;
    this.removeAllListeners('connection');
    this.on('connection', (socket: Socket) => this.awaitHead(socket, service, nodeConnection));
    this.on('listening', () => {
      this.sweep = setInterval(
        () => this.expireHeads(init.handshakeTimeoutMs),
        checkingIntervalMs(init.handshakeTimeoutMs),
      );
      this.sweep.unref();
    });
    this.on('close', () => clearInterval(this.sweep));
    this.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      this.awaitingHead.delete(socket);
      void handleConnect(service, req.url ?? '', req.headers['proxy-authorization'], socket, head);
    });
    this.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.awaitingHead.delete(req.socket);
      if (this.draining) res.shouldKeepAlive = false;
      else {
        this.responding.add(res);
        res.once('close', () => this.responding.delete(res));
      }
      if (req.url === ACCOUNT_PATH || req.url?.startsWith(`${ACCOUNT_PATH}?`)) void handleAccount(service, req, res);
      else void handleForward(service, req, res);
    });
    this.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (err.code === 'HPE_HEADER_OVERFLOW') rejectHead(socket, 'header block over 64 KiB', 431);
      else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT')
        rejectHead(socket, `request head not finished within ${init.handshakeTimeoutMs} ms`, 408);
      else rejectHead(socket, `malformed request (${err.code ?? err.message})`);
    });
  }

  /**
   * For a stop that lets requests finish: a kept-alive connection gets `Connection: close` on the
   * response it is waiting for and is closed after it; one between requests is closed now.
   */
  drain(): void {
    this.draining = true;
    for (const res of this.responding) if (!res.headersSent) res.shouldKeepAlive = false;
    this.responding.clear();
    this.closeIdleConnections();
  }

  override closeAllConnections(): void {
    for (const socket of this.awaitingHead.keys()) socket.destroy();
    this.awaitingHead.clear();
    super.closeAllConnections();
  }

  private awaitHead(socket: Socket, service: TunnelService, nodeConnection: (socket: Socket) => void): void {
    this.awaitingHead.set(socket, performance.now());
    // For the socket's whole life: a reset while nobody else listens (before the head, or between
    // Node letting go of a CONNECT and the bridge taking it) must not be an unhandled 'error'.
    socket.on('error', ignore);
    const onEnd = (): void => {
      this.awaitingHead.delete(socket);
      socket.destroy();
    };
    socket.once('end', onEnd);
    socket.once('data', (chunk: Buffer) => {
      socket.removeListener('end', onEnd);
      const head = parseConnectHead(chunk);
      if (head == null) {
        // Stays in awaitingHead until Node's server has the head ('connect' or 'request').
        socket.once('close', () => this.awaitingHead.delete(socket));
        socket.pause();
        socket.unshift(chunk);
        nodeConnection.call(this, socket);
        // Node's server reads from here on; the bytes given back are read first.
        process.nextTick(() => socket.resume());
        return;
      }
      // As Node's server leaves a CONNECT socket: neither flowing nor paused, so that the first
      // 'data' listener (the bridge's) starts the flow and nothing read before it is lost.
      this.awaitingHead.delete(socket);
      (socket as { readableFlowing: boolean | null }).readableFlowing = null;
      void handleConnect(service, head.authority, head.proxyAuthorization, socket, chunk.subarray(head.bodyStart));
    });
  }

  private expireHeads(timeoutMs: number): void {
    const due = performance.now() - timeoutMs;
    // A Map iterates in insertion order, which is accept order: the first one not due ends the sweep.
    for (const [socket, acceptedAt] of this.awaitingHead) {
      if (acceptedAt > due) break;
      this.awaitingHead.delete(socket);
      // A connection reset before its first byte is already gone: nothing to answer.
      if (!socket.destroyed) rejectHead(socket, `request head not finished within ${timeoutMs} ms`, 408);
    }
  }
}

export function createHttpProxy(service: TunnelService, init: HttpProxyInit): HttpProxyServer {
  return new HttpProxyServer(service, init);
}

function checkingIntervalMs(handshakeTimeoutMs: number): number {
  return Math.max(250, Math.min(1_000, Math.floor(handshakeTimeoutMs / 2)));
}

function ignore(): void {}

function rejectHead(socket: Socket, reason: string, status?: number): void {
  writeRawErrorResponse(socket, new MeadowError('MEADOW_ERR_BAD_REQUEST', reason), status);
  socket.destroySoon();
}

async function handleConnect(
  service: TunnelService,
  authority: string,
  proxyAuthorization: string | undefined,
  socket: Socket,
  head: Buffer,
): Promise<void> {
  socket.setNoDelay(true);
  let tunnel: Tunnel;
  let exit: TunnelExit;
  try {
    const target = parseAuthority(authority);
    const credentials = parseBasicCredentials(proxyAuthorization);
    ({ tunnel, exit } = await service.open('http-connect', credentials, target, socket));
  } catch (err) {
    writeRawErrorResponse(socket, asMeadowError(err));
    return;
  }
  if (socket.destroyed) {
    tunnel.destroy();
    return;
  }
  socket.write(`HTTP/1.1 200 Connection Established\r\n${exitHeaderLines(exit)}\r\n`, 'latin1');
  if (head.byteLength > 0) tunnel.write(head);
  await bridge(socket, tunnel);
}

interface ConnectionAgents {
  agents: Map<string, Agent>;
}
const agentsBySocket = new WeakMap<Socket, ConnectionAgents>();
/** Where each forwarding tunnel leaves, for the headers of every response it carries. */
const exits = new WeakMap<object, TunnelExit>();

/** One keep-alive agent per client connection and username, whose sockets are tunnels. */
function agentFor(service: TunnelService, client: Socket, credentials: { username: string; password: string }): Agent {
  let entry = agentsBySocket.get(client);
  if (entry == null) {
    const created: ConnectionAgents = { agents: new Map() };
    entry = created;
    agentsBySocket.set(client, created);
    client.once('close', () => {
      for (const agent of created.agents.values()) agent.destroy();
    });
  }
  const key = `${credentials.username}\0${credentials.password}`;
  let agent = entry.agents.get(key);
  if (agent == null) {
    agent = new Agent({ keepAlive: true, maxSockets: 8, maxFreeSockets: 4 });
    agent.createConnection = ((
      options: { host?: string; port?: number },
      callback: (err: Error | null, stream?: Tunnel) => void,
    ) => {
      let target: Target;
      try {
        target = normalizeTarget(options.host ?? '', Number(options.port));
      } catch (err) {
        callback(new MeadowError('MEADOW_ERR_BAD_REQUEST', (err as Error).message));
        return undefined;
      }
      service.open('http-forward', credentials, target, client).then(
        ({ tunnel, exit }) => {
          exits.set(tunnel, exit);
          callback(null, tunnel);
        },
        (err: Error) => callback(err),
      );
      return undefined;
    }) as unknown as Agent['createConnection'];
    entry.agents.set(key, agent);
  }
  return agent;
}

async function handleForward(service: TunnelService, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const fail = (err: unknown): void => {
    req.resume();
    sendErrorResponse(res, asMeadowError(err));
  };
  let url: URL;
  let credentials: { username: string; password: string };
  try {
    if (!/^http:\/\//i.test(req.url ?? '')) {
      throw new MeadowError(
        'MEADOW_ERR_BAD_REQUEST',
        /^https:/i.test(req.url ?? '')
          ? 'use CONNECT for https:// targets'
          : `this is a proxy: send an absolute http:// URI or CONNECT (your account: GET ${ACCOUNT_PATH} with your credentials)`,
      );
    }
    url = new URL(req.url as string);
    if (url.username !== '' || url.password !== '')
      throw new MeadowError('MEADOW_ERR_BAD_REQUEST', 'credentials in the URL are not forwarded');
    credentials = parseBasicCredentials(req.headers['proxy-authorization']);
    service.authenticate(credentials, 'http-forward', req.socket);
  } catch (err) {
    fail(err);
    return;
  }

  const connectionTokens = new Set(
    String(req.headers.connection ?? '')
      .toLowerCase()
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean),
  );
  const headers: Array<[string, string]> = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || connectionTokens.has(lower) || lower === 'host' || lower.startsWith('proxy-'))
      continue;
    headers.push([name, req.rawHeaders[i + 1] as string]);
  }
  const port = url.port === '' ? 80 : Number(url.port);
  const upstream = httpRequest({
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    method: req.method,
    path: `${url.pathname}${url.search}`,
    headers: [['Host', url.host], ...headers].flat(),
    agent: agentFor(service, req.socket, credentials),
    setHost: false,
  });
  upstream.on('error', fail);
  upstream.on('response', (upstreamRes: IncomingMessage) => {
    const tokens = new Set(
      String(upstreamRes.headers.connection ?? '')
        .toLowerCase()
        .split(',')
        .map((t) => t.trim()),
    );
    const out: string[] = [];
    for (let i = 0; i < upstreamRes.rawHeaders.length; i += 2) {
      const lower = (upstreamRes.rawHeaders[i] as string).toLowerCase();
      if (HOP_BY_HOP.has(lower) || tokens.has(lower) || isMeadowHeader(lower)) continue;
      out.push(upstreamRes.rawHeaders[i] as string, upstreamRes.rawHeaders[i + 1] as string);
    }
    const exit = exits.get(upstreamRes.socket);
    if (exit != null) {
      out.push(...exitHeaderPairs(exit));
      // Later requests on this kept-alive tunnel open nothing: their session stays where this one
      // left it (on this relay, or still bound elsewhere).
      if (exit.session != null && exit.session !== 'kept' && exit.session !== 'elsewhere')
        exits.set(upstreamRes.socket, { ...exit, session: 'kept' });
    }
    res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, out);
    upstreamRes.pipe(res);
    upstreamRes.on('aborted', () => res.socket != null && resetSocket(res.socket));
    upstreamRes.on('error', () => res.socket != null && resetSocket(res.socket));
  });
  req.on('error', () => upstream.destroy());
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
}
