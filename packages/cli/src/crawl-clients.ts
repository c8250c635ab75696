import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import { SocksClient } from 'socks';

/**
 * Small HTTP GETs through a proxy, one per protocol Meadow serves: SOCKS5 (remote DNS),
 * HTTP CONNECT, and HTTP absolute-URI forwarding, and a counted download over CONNECT. Used by the
 * demo.
 */
export interface ProxyTarget {
  host: string;
  port: number;
}

export interface Credentials {
  username: string;
  password: string;
}

function readHttpResponse(socket: Socket, signal: AbortSignal): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('error', reject);
    signal.addEventListener('abort', () => {
      socket.destroy();
      reject(new Error('request timed out'));
    });
    socket.once('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), body });
    });
  });
}

function proxyAuthorization(creds: Credentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
}

export async function getViaSocks5(
  proxy: ProxyTarget,
  creds: Credentials,
  url: URL,
  signal: AbortSignal,
): Promise<{ status: number; body: string }> {
  const { socket } = await SocksClient.createConnection({
    proxy: { host: proxy.host, port: proxy.port, type: 5, userId: creds.username, password: creds.password },
    command: 'connect',
    destination: { host: url.hostname, port: Number(url.port || 80) },
    timeout: 15_000,
  });
  socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`);
  return readHttpResponse(socket, signal);
}

/** Where the gateway says a tunnel left the network (`X-Meadow-*` on the CONNECT's answer). */
export interface ExitHeaders {
  relay?: string;
  country?: string;
  session?: string;
}

/** A CONNECT through the HTTP proxy: its status, the exit it names, and the tunnel's socket on 200. */
export function openConnectTunnel(
  proxy: ProxyTarget,
  creds: Credentials,
  url: URL,
  signal: AbortSignal,
): Promise<{ status: number; proxyStatus: string; exit: ExitHeaders; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: proxy.host,
      port: proxy.port,
      method: 'CONNECT',
      path: `${url.hostname}:${url.port || 80}`,
      headers: {
        'proxy-authorization': proxyAuthorization(creds),
      },
      signal,
    });
    req.once('error', reject);
    req.once('connect', (res, socket, head) => {
      if (head.byteLength > 0) socket.unshift(head);
      const header = (name: string): string | undefined => {
        const value = res.headers[name];
        return Array.isArray(value) ? value[0] : value;
      };
      resolve({
        status: res.statusCode ?? 0,
        proxyStatus: header('proxy-status') ?? '',
        exit: {
          relay: header('x-meadow-relay'),
          country: header('x-meadow-country'),
          session: header('x-meadow-session'),
        },
        socket,
      });
    });
    req.end();
  });
}

export async function getViaConnect(
  proxy: ProxyTarget,
  creds: Credentials,
  url: URL,
  signal: AbortSignal,
): Promise<{ status: number; body: string; exit: ExitHeaders }> {
  const { status, proxyStatus, exit, socket } = await openConnectTunnel(proxy, creds, url, signal);
  if (status !== 200) {
    socket.destroy();
    return { status, body: proxyStatus, exit };
  }
  socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`);
  return { ...(await readHttpResponse(socket, signal)), exit };
}

/**
 * A GET through a CONNECT tunnel whose body is only counted and handed to `check` chunk by chunk
 * (a download too large to keep), with the exit the gateway named.
 */
export async function downloadViaConnect(
  proxy: ProxyTarget,
  creds: Credentials,
  url: URL,
  signal: AbortSignal,
  check: (chunk: Buffer, offset: number) => boolean,
): Promise<{ status: number; bytes: number; intact: boolean; exit: ExitHeaders }> {
  const { status, exit, socket } = await openConnectTunnel(proxy, creds, url, signal);
  if (status !== 200) {
    socket.destroy();
    return { status, bytes: 0, intact: false, exit };
  }
  try {
    return await new Promise((resolve, reject) => {
      const req = httpRequest({
        createConnection: () => socket,
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        headers: { connection: 'close' },
        signal,
      });
      req.once('error', reject);
      req.once('response', (res) => {
        let bytes = 0;
        let intact = true;
        res.on('data', (chunk: Buffer) => {
          if (intact && !check(chunk, bytes)) intact = false;
          bytes += chunk.byteLength;
        });
        res.once('error', reject);
        res.once('end', () => resolve({ status: res.statusCode ?? 0, bytes, intact, exit }));
      });
      req.end();
    });
  } finally {
    socket.destroy();
  }
}

export function getViaAbsoluteUri(
  proxy: ProxyTarget,
  creds: Credentials,
  url: URL,
  signal: AbortSignal,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: proxy.host,
      port: proxy.port,
      method: 'GET',
      path: url.toString(),
      headers: {
        host: url.host,
        'proxy-authorization': proxyAuthorization(creds),
      },
      agent: false,
      signal,
    });
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.once('error', reject);
    });
    req.end();
  });
}
