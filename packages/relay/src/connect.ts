import { connect, type Socket } from 'node:net';
import { formatHostPort, MeadowError } from '@meadow/protocol';
import type { ResolvedTarget } from './egress.ts';

export interface ConnectedTarget {
  socket: Socket;
  /** The address that answered (known without asking the kernel for the socket's peer). */
  target: ResolvedTarget;
}

/**
 * Dials the checked addresses in order until one answers, from `localAddress` if set. Each try
 * gets an equal share of the time left, so an address that never answers (a site's broken IPv6)
 * leaves time for the next. Maps failures to the relay's distinct target error codes.
 */
export async function connectToTarget(
  addresses: ResolvedTarget[],
  options: { localAddress?: string; timeoutMs: number; signal?: AbortSignal },
): Promise<ConnectedTarget> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: MeadowError | undefined;
  for (const [i, target] of addresses.entries()) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    const share = Math.ceil(remaining / (addresses.length - i));
    try {
      return { socket: await dialOne(target, options.localAddress, share, options.signal), target };
    } catch (err) {
      lastError = err as MeadowError;
    }
  }
  throw lastError ?? new MeadowError('MEADOW_ERR_TARGET_TIMEOUT', 'connect deadline passed', { hop: 'target' });
}

function dialOne(
  target: ResolvedTarget,
  localAddress: string | undefined,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const where = formatHostPort(target.address, target.port);
    const socket = connect({
      host: target.address,
      port: target.port,
      localAddress,
      noDelay: true,
      allowHalfOpen: true,
    });
    const timer = setTimeout(
      () =>
        fail(
          new MeadowError('MEADOW_ERR_TARGET_TIMEOUT', `${where} did not answer in ${timeoutMs} ms`, { hop: 'target' }),
        ),
      timeoutMs,
    );
    const onAbort = (): void =>
      fail(new MeadowError('MEADOW_ERR_TARGET_TIMEOUT', `connect to ${where} aborted`, { hop: 'target' }));
    signal?.addEventListener('abort', onAbort, { once: true });
    const cleanup = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeListener('error', onError);
      socket.removeListener('connect', onConnect);
    };
    const fail = (err: MeadowError): void => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onError = (err: NodeJS.ErrnoException): void => {
      if (err.code === 'EADDRINUSE' || err.code === 'EADDRNOTAVAIL') {
        fail(localPortError(err, localAddress));
        return;
      }
      const code =
        err.code === 'ECONNREFUSED'
          ? 'MEADOW_ERR_TARGET_REFUSED'
          : err.code === 'ETIMEDOUT'
            ? 'MEADOW_ERR_TARGET_TIMEOUT'
            : 'MEADOW_ERR_TARGET_UNREACHABLE';
      fail(new MeadowError(code, `${where}: ${err.code ?? err.message}`, { hop: 'target', cause: err }));
    };
    const onConnect = (): void => {
      cleanup();
      resolve(socket);
    };
    socket.once('error', onError);
    socket.once('connect', onConnect);
  });
}

/**
 * The relay's own side failed, not the target: no local port was free (every one in use or in
 * TIME_WAIT: with an egress address, Node binds before connecting, and a bound port is not shared
 * with a TIME_WAIT socket as connect() would share it), or the egress address is not on this host.
 * Another relay may well succeed, so the gateway retries there, and the target is not blamed.
 */
function localPortError(err: NodeJS.ErrnoException, localAddress: string | undefined): MeadowError {
  const from = localAddress == null ? 'this host' : `egress address ${localAddress}`;
  const why =
    err.code === 'EADDRNOTAVAIL' && localAddress != null
      ? `${from} is not usable here (EADDRNOTAVAIL: not an address of this host, or no local port free)`
      : `no local port free on ${from} (${err.code}): too many recent connections from it`;
  return new MeadowError('MEADOW_ERR_RELAY_BUSY', why, { hop: 'relay', cause: err });
}
