import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import { SocksClient } from 'socks';

/**
 * Small HTTP GETs through a proxy, one per protocol Meadow serves: SOCKS5 (remote DNS),
 * HTTP CONNECT, and HTTP absolute-URI forwarding. Used by the demo.
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

export function getViaConnect(
  proxy: ProxyTarget,
  creds: Credentials,
  url: URL,
  signal: AbortSignal,
): Promise<{ status: number; body: string }> {
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
    req.once('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        resolve({ status: res.statusCode ?? 0, body: String(res.headers['proxy-status'] ?? '') });
        return;
      }
      socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`);
      readHttpResponse(socket, signal).then(resolve, reject);
    });
    req.end();
  });
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
