import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { isMeadowError, MeadowError, resetSocket } from '@meadow/protocol';

export function asMeadowError(err: unknown): MeadowError {
  if (isMeadowError(err)) return err;
  return new MeadowError('MEADOW_ERR_INTERNAL', (err as Error)?.message ?? String(err), { cause: err });
}

const MAX_DETAILS = 512;

/** Status, headers and body of a proxy-made error response (RFC 9209 Proxy-Status on every one). */
/**
 * Status, headers and body of a proxy-made error response (RFC 9209 Proxy-Status on every one).
 * `status` overrides the code's own status where HTTP has a more precise one for the same code
 * (431, 408 for a request head the gateway could not read).
 */
export function errorResponse(
  err: MeadowError,
  status = err.wire.httpStatus,
): { status: number; headers: Record<string, string>; body: string } {
  const { proxyStatus } = err.wire;
  const httpStatus = status;
  // A relay writes its own refusals' text: clipped, so a header never outgrows a client's limit.
  const details = `${err.hop}: ${err.message}`
    .slice(0, MAX_DETAILS)
    .replace(/[\\"]/g, "'")
    .replace(/[^\x20-\x7e]/g, '?');
  const headers: Record<string, string> = {
    'proxy-status': `meadow${proxyStatus == null ? '' : `; error=${proxyStatus}`}; details="${details}"`,
    'content-type': 'text/plain; charset=utf-8',
    'x-meadow-error': err.code,
    connection: 'close',
  };
  if (httpStatus === 407) headers['proxy-authenticate'] = 'Basic realm="meadow"';
  if (httpStatus === 429 || httpStatus === 503) headers['retry-after'] = '5';
  const body = `${err.code}: ${err.message}\n`;
  headers['content-length'] = String(Buffer.byteLength(body));
  return { status: httpStatus, headers, body };
}

export function sendErrorResponse(res: ServerResponse, err: MeadowError): void {
  const { status, headers, body } = errorResponse(err);
  if (res.headersSent) {
    if (res.socket != null) resetSocket(res.socket);
    return;
  }
  res.writeHead(status, headers).end(body);
}

/** For CONNECT, where the reply is written straight onto the client socket. */
export function writeRawErrorResponse(socket: Socket, err: MeadowError, status?: number): void {
  const { status: sent, headers, body } = errorResponse(err, status);
  const reason = STATUS_TEXT[sent] ?? 'Error';
  const head = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  if (!socket.destroyed && socket.writable) socket.end(`HTTP/1.1 ${sent} ${reason}\r\n${head}\r\n${body}`);
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  402: 'Payment Required',
  403: 'Forbidden',
  405: 'Method Not Allowed',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};
