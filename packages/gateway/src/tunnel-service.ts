import type { Socket } from 'node:net';
import { MeadowError, type Target, type Tunnel } from '@meadow/protocol';
import type { Logger } from 'pino';
import type { Connector } from './connector.ts';
import { authenticate, type Customer, type CustomerDirectory } from './customers.ts';
import type { GatewayMetrics } from './metrics.ts';
import { UsageMeter } from './usage.ts';
import type { UsernameParams } from './username.ts';

export type ClientProtocol = 'socks5' | 'http-connect' | 'http-forward';

/**
 * What both proxy front ends call: authenticate, open a tunnel through a relay, and meter it.
 * Bytes are taken from the tunnel's own counters when it closes, so each is counted once.
 */
export class TunnelService {
  readonly usage = new UsageMeter();
  private readonly directory: CustomerDirectory;
  private readonly connector: Connector;
  private readonly metrics: GatewayMetrics;
  private readonly log: Logger;
  private active = 0;

  constructor(deps: { directory: CustomerDirectory; connector: Connector; metrics: GatewayMetrics; logger: Logger }) {
    this.directory = deps.directory;
    this.connector = deps.connector;
    this.metrics = deps.metrics;
    this.log = deps.logger;
  }

  get activeTunnels(): number {
    return this.active;
  }

  authenticate(
    credentials: { username: string; password: string },
    protocol: ClientProtocol = 'http-forward',
  ): { customer: Customer; params: UsernameParams } {
    try {
      return authenticate(this.directory, credentials.username, credentials.password);
    } catch (err) {
      if ((err as MeadowError).code === 'MEADOW_ERR_AUTH_REQUIRED') this.metrics.authFailures.inc({ protocol });
      throw err;
    }
  }

  async open(
    protocol: ClientProtocol,
    credentials: { username: string; password: string },
    target: Target,
    client: Socket,
  ): Promise<Tunnel> {
    const { customer, params } = this.authenticate(credentials, protocol);
    const started = performance.now();
    const abort = new AbortController();
    const onClientGone = (): void => abort.abort(new MeadowError('MEADOW_ERR_INTERNAL', 'client went away'));
    client.once('close', onClientGone);
    try {
      const { tunnel, relay } = await this.connector.open(customer.name, params, target, { signal: abort.signal });
      this.metrics.setupSeconds.observe({ protocol }, (performance.now() - started) / 1000);
      this.metrics.tunnels.inc({ protocol, result: 'ok' });
      this.metrics.activeTunnels.inc({ protocol });
      this.active++;
      tunnel.once('close', () => {
        this.active--;
        this.metrics.activeTunnels.dec({ protocol });
        this.metrics.bytes.inc({ direction: 'to_target' }, tunnel.bytesSent);
        this.metrics.bytes.inc({ direction: 'from_target' }, tunnel.bytesReceived);
        this.usage.record(customer.name, relay.peerId, tunnel.bytesSent, tunnel.bytesReceived);
      });
      this.log.debug({ customer: customer.name, relay: relay.peerId, tunnel: tunnel.id, protocol }, 'tunnel open');
      return tunnel;
    } catch (err) {
      const code = err instanceof MeadowError ? err.code : 'MEADOW_ERR_INTERNAL';
      this.metrics.tunnels.inc({ protocol, result: code });
      throw err;
    } finally {
      client.removeListener('close', onClientGone);
    }
  }
}
