import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../logger.ts';
import { runUntilSignal } from '../run-service.ts';

export const originHelp = `meadow origin [--host 127.0.0.1] [--port 0]

A small web site for the demo and tests (never needed in production):
  GET  /               JSON: the address this request came from
  GET  /bytes/<n>      n deterministic bytes (a repeating pattern), streamed
  HEAD                 either of the above without its body
  POST /upload         JSON: byte count and sha256 of the request body`;

const PATTERN = Buffer.alloc(64 * 1024, 0);
for (let i = 0; i < PATTERN.byteLength; i++) PATTERN[i] = (i * 31 + 7) & 0xff;

/** The deterministic body of GET /bytes/<n>, for clients that check what arrived. */
export function patternBytes(offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = PATTERN[(offset + i) % PATTERN.byteLength] as number;
  return out;
}

export function createOriginServer(): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://origin');
    const peer = { address: req.socket.remoteAddress, port: req.socket.remotePort };
    // HEAD answers as GET does, without the body (Node's response drops it).
    const get = req.method === 'GET' || req.method === 'HEAD';
    if (get && url.pathname === '/') {
      const body = JSON.stringify({ youAre: peer.address, port: peer.port, host: req.headers.host ?? null });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
      return;
    }
    const bytes = /^\/bytes\/(\d+)$/.exec(url.pathname);
    if (get && bytes != null) {
      const total = Number(bytes[1]);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
      if (req.method === 'HEAD') return void res.end();
      let sent = 0;
      const pump = (): void => {
        while (sent < total) {
          const n = Math.min(PATTERN.byteLength, total - sent);
          const ok = res.write(n === PATTERN.byteLength ? PATTERN : PATTERN.subarray(0, n));
          sent += n;
          if (!ok) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    if (req.method === 'POST' && url.pathname === '/upload') {
      const hash = createHash('sha256');
      let count = 0;
      req.on('data', (chunk: Buffer) => {
        count += chunk.byteLength;
        hash.update(chunk);
      });
      req.on('end', () => {
        const body = JSON.stringify({ bytes: count, sha256: hash.digest('hex'), youAre: peer.address });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
      });
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
}

export async function originCommand(args: { host: string; port: number }): Promise<number> {
  const log = createLogger('origin', 'info');
  const server = createOriginServer();
  server.listen(args.port, args.host);
  await once(server, 'listening');
  const { address, port } = server.address() as AddressInfo;
  const stopped = runUntilSignal(log, async () => {
    server.closeAllConnections();
    server.close();
  });
  log.info({ url: `http://${address}:${port}/`, host: address, port }, 'ready');
  return stopped;
}
