import { connect } from 'node:net';
import type { LocalNetwork } from '@meadow/cli';
import { SocksClient } from 'socks';

/** One crawler request's fate: set up (with the relay that served it) or not, and finished or broken. */
export interface RequestOutcome {
  at: number;
  setupMs?: number;
  /** The relay's egress address, from the SOCKS reply's BND.ADDR. */
  relay?: string;
  /** Why the tunnel could not be set up (a new-tunnel failure). */
  setupError?: string;
  /** Why an established tunnel broke before the response was complete. */
  brokenError?: string;
}

/**
 * Crawler load: `concurrency` workers, each doing GET / over a fresh SOCKS5 tunnel (as crawlers
 * rotating exits do) until `signal` aborts. Every outcome is recorded, so a fault's victims can be
 * told apart from new tunnels afterwards.
 */
export async function crawl(
  net: LocalNetwork,
  options: {
    concurrency: number;
    signal: AbortSignal;
    username?: (worker: number) => string;
    /** Each worker waits this long after each request (a crawler at a set pace); default none. */
    pauseMs?: number;
  },
  onOutcome: (outcome: RequestOutcome) => void,
): Promise<void> {
  await Promise.all(
    Array.from({ length: options.concurrency }, async (_, worker) => {
      while (!options.signal.aborted) {
        onOutcome(await oneRequest(net, options.username?.(worker) ?? net.customer.name));
        if (options.pauseMs != null) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
      }
    }),
  );
}

async function oneRequest(net: LocalNetwork, username: string): Promise<RequestOutcome> {
  const at = Date.now();
  const started = performance.now();
  const existing = connect({ host: net.gateway.socks.host, port: net.gateway.socks.port });
  existing.on('error', () => {});
  let established: Awaited<ReturnType<typeof SocksClient.createConnection>>;
  try {
    established = await SocksClient.createConnection({
      proxy: {
        host: net.gateway.socks.host,
        port: net.gateway.socks.port,
        type: 5,
        userId: username,
        password: net.customer.apiKey,
      },
      command: 'connect',
      destination: { host: net.origin.host, port: net.origin.port },
      timeout: 20_000,
      existing_socket: existing,
    });
  } catch (err) {
    existing.destroy();
    return { at, setupError: (err as Error).message.slice(0, 80) };
  }
  const setupMs = performance.now() - started;
  const relay = established.remoteHost?.host;
  const socket = established.socket;
  return new Promise((resolve) => {
    let text = '';
    let error: string | undefined;
    const timer = setTimeout(() => socket.destroy(new Error('no complete response in 20 s')), 20_000);
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => {
      text += c;
    });
    socket.on('error', (err) => {
      error = err.message;
    });
    socket.once('close', () => {
      clearTimeout(timer);
      const complete = /^HTTP\/1\.1 200 /.test(text) && text.endsWith('}');
      resolve(complete ? { at, setupMs, relay } : { at, setupMs, relay, brokenError: error ?? 'incomplete response' });
    });
    socket.write('GET / HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n');
  });
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
