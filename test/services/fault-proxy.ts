import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

interface Pair {
  client: Socket;
  upstream: Socket;
}

/**
 * A TCP pass-through that can fail the connections it carries, for link faults: `stall()` stops
 * moving bytes on every current connection while keeping it open (a stalled uplink), `drop()`
 * resets them (a router reboot). Connections made afterwards pass normally.
 */
export class FaultProxy {
  readonly port: number;
  private readonly server: Server;
  private readonly pairs: Set<Pair>;

  private constructor(server: Server, pairs: Set<Pair>) {
    this.server = server;
    this.pairs = pairs;
    this.port = (server.address() as AddressInfo).port;
  }

  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    const pairs = new Set<Pair>();
    const server = createServer((client) => {
      const upstream = connect(target);
      const pair = { client, upstream };
      pairs.add(pair);
      client.pipe(upstream);
      upstream.pipe(client);
      const end = (): void => {
        pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      for (const s of [client, upstream]) {
        s.on('error', end);
        s.on('close', end);
      }
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return new FaultProxy(server, pairs);
  }

  get connections(): number {
    return this.pairs.size;
  }

  /** Every current connection stops carrying bytes, both ways, and stays open. */
  stall(): void {
    for (const { client, upstream } of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  /** Every current connection is reset (RST), both sides. */
  drop(): void {
    for (const { client, upstream } of [...this.pairs]) {
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    }
  }

  async stop(): Promise<void> {
    this.drop();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
