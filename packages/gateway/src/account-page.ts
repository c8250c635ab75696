import type { IncomingMessage, ServerResponse } from 'node:http';
import { MeadowError } from '@meadow/protocol';
import { parseBasicCredentials } from './customers.ts';
import { asMeadowError, sendErrorResponse } from './proxy-errors.ts';
import type { CustomerAccount, TunnelService } from './tunnel-service.ts';

/** The path on the HTTP proxy port where a customer reads its own account. */
export const ACCOUNT_PATH = '/account';

/**
 * `GET /account` on the HTTP proxy port, with the customer's own credentials (`curl -u
 * acme:API_KEY http://gateway:8080/account`, or as `Proxy-Authorization`): its plan, usage, quota
 * left, open tunnels, and why its recent tunnels failed. A SOCKS5 reply has one byte for a reason,
 * so this is where a SOCKS5 crawler reads the rest. Routing parameters in the username are ignored.
 */
export async function handleAccount(service: TunnelService, req: IncomingMessage, res: ServerResponse): Promise<void> {
  req.resume();
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res
      .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8', connection: 'close' })
      .end(`${ACCOUNT_PATH} answers GET\n`);
    return;
  }
  let name: string;
  try {
    const given = parseBasicCredentials(req.headers.authorization ?? req.headers['proxy-authorization']);
    const customer = given.username.split('-')[0] ?? '';
    name = service.authenticate({ username: customer, password: given.password }, 'http-forward', req.socket).customer
      .name;
  } catch (err) {
    const error = asMeadowError(err);
    if (error.code !== 'MEADOW_ERR_AUTH_REQUIRED') {
      sendErrorResponse(res, error);
      return;
    }
    // A web page, not a proxy: 401 and WWW-Authenticate, so browsers and `curl -u` answer it.
    const body = `${error.code}: ${error.message}\n`;
    res
      .writeHead(401, {
        'www-authenticate': 'Basic realm="meadow account"',
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'x-meadow-error': error.code,
      })
      .end(body);
    return;
  }
  let account: CustomerAccount | undefined;
  try {
    account = await service.account(name);
  } catch (err) {
    // The customer database failed (a lost disk): an error answer, never a crash of the proxy.
    sendErrorResponse(res, new MeadowError('MEADOW_ERR_INTERNAL', (err as Error).message, { cause: err }));
    return;
  }
  if (account == null) {
    sendErrorResponse(res, new MeadowError('MEADOW_ERR_AUTH_REQUIRED', 'customer removed'));
    return;
  }
  const body = `${JSON.stringify(account, null, 2)}\n`;
  res
    .writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    })
    .end(body);
}
