import { type ChildProcess, spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type LocalNetwork, SERVICE_ENV, SERVICE_NODE_FLAGS, startLocalNetwork } from '@meadow/cli';
import { httpConnect, socksConnect } from '../../test/harness.ts';

/**
 * One way from the load generator to the origin. `connect` yields a socket on which the origin's
 * HTTP is spoken directly (for Meadow, after the SOCKS5 or CONNECT handshake).
 */
export interface Path {
  name: string;
  connect(): Promise<Socket>;
}

export interface Baselines {
  paths: Path[];
  /** The processes each baseline path runs through (for CPU accounting). */
  pids: Record<string, number[]>;
  stop(): Promise<void>;
}

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

/**
 * A baseline process, started with the Node flags and environment Meadow's services run with: V8's
 * heap sizing moves bulk throughput by up to 2 × (docs/performance.md), so a baseline with other
 * flags would compare garbage-collector settings rather than code.
 */
async function helper(
  args: string[],
  nodeFlags: readonly string[] = [],
): Promise<{ child: ChildProcess; ready: Record<string, unknown> }> {
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, ...nodeFlags, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...SERVICE_ENV },
  });
  const lines = createInterface({ input: child.stdout as NonNullable<typeof child.stdout> });
  for await (const line of lines) {
    const ready = JSON.parse(line) as Record<string, unknown>;
    if (ready.ready === true) return { child, ready };
  }
  throw new Error(`${args.join(' ')} exited before it was ready`);
}

function tcpPath(name: string, port: number, host = '127.0.0.1'): Path {
  return {
    name,
    connect: () =>
      new Promise((resolve, reject) => {
        const socket = connect({ host, port, noDelay: true });
        socket.once('connect', () => {
          socket.removeListener('error', reject);
          resolve(socket);
        });
        socket.once('error', reject);
      }),
  };
}

/**
 * The yardsticks, each its own process(es) like the gateway and relay are: direct, one Node TCP
 * pass-through, two chained (gateway + relay's topology without libp2p), the same two speaking HTTP
 * CONNECT or SOCKS5 (`pass2-connect`, `pass2-socks5`: the handshake a crawler pays per tunnel on
 * Meadow), and TCP over one raw libp2p stream per connection between two processes (the floor
 * Meadow's transport sets).
 */
export async function startBaselines(
  origin: { host: string; port: number },
  options: { muxFloor?: boolean; nodeFlags?: readonly string[] } = {},
): Promise<Baselines> {
  const children: ChildProcess[] = [];
  const start = async (args: string[]) => {
    const started = await helper(args, options.nodeFlags);
    children.push(started.child);
    return { ...started.ready, pid: started.child.pid as number } as Record<string, unknown> & { pid: number };
  };
  const stopAll = async (): Promise<void> => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode != null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
          }),
      ),
    );
  };
  let ports: {
    pass1: number;
    pass2: number;
    pass2Connect: number;
    pass2Socks5: number;
    libp2p: number;
    muxFloor?: number;
    muxFloorConnect?: number;
  };
  let pids: Record<string, number[]>;
  try {
    const forwarder = here('./tcp-forwarder.ts');
    const pass1 = await start([forwarder, origin.host, String(origin.port)]);
    const pass2Far = await start([forwarder, origin.host, String(origin.port)]);
    const pass2Near = await start([forwarder, '127.0.0.1', String(pass2Far.port)]);
    const connectForwarder = here('./connect-forwarder.ts');
    const pass2ConnectFar = await start([connectForwarder]);
    const pass2ConnectNear = await start([connectForwarder, '127.0.0.1', String(pass2ConnectFar.port)]);
    // The same far hop behind a SOCKS5 near hop.
    const pass2Socks5Near = await start([here('./socks-forwarder.ts'), '127.0.0.1', String(pass2ConnectFar.port)]);
    const hop = here('./libp2p-hop.ts');
    const exit = await start([hop, 'exit', origin.host, String(origin.port)]);
    const entry = await start([hop, 'entry', String(exit.multiaddr)]);
    ports = {
      pass1: Number(pass1.port),
      pass2: Number(pass2Near.port),
      pass2Connect: Number(pass2ConnectNear.port),
      pass2Socks5: Number(pass2Socks5Near.port),
      libp2p: Number(entry.port),
    };
    pids = {
      pass1: [pass1.pid],
      pass2: [pass2Near.pid, pass2Far.pid],
      'pass2-connect': [pass2ConnectNear.pid, pass2ConnectFar.pid],
      'pass2-socks5': [pass2Socks5Near.pid, pass2ConnectFar.pid],
      libp2p: [entry.pid, exit.pid],
    };
    if (options.muxFloor) {
      const muxHop = here('./mux-hop.ts');
      const muxExit = await start([muxHop, 'exit']);
      const muxEntry = await start([muxHop, 'entry', String(muxExit.multiaddr), origin.host, String(origin.port)]);
      const connectEntry = await start([
        muxHop,
        'entry',
        String(muxExit.multiaddr),
        origin.host,
        String(origin.port),
        'connect',
      ]);
      ports.muxFloor = Number(muxEntry.port);
      ports.muxFloorConnect = Number(connectEntry.port);
      pids['mux-floor'] = [muxEntry.pid, muxExit.pid];
      pids['mux-floor-connect'] = [connectEntry.pid, muxExit.pid];
    }
  } catch (err) {
    // A helper that failed to start must not leave the ones before it running.
    await stopAll();
    throw err;
  }
  return {
    paths: [
      tcpPath('direct', origin.port, origin.host),
      tcpPath('pass1', ports.pass1),
      tcpPath('pass2', ports.pass2),
      {
        name: 'pass2-connect',
        connect: () =>
          httpConnect(
            { host: '127.0.0.1', port: ports.pass2Connect },
            { username: 'pass', password: 'none' },
            `${origin.host}:${origin.port}`,
          ),
      },
      {
        name: 'pass2-socks5',
        connect: () =>
          socksConnect(
            { host: '127.0.0.1', port: ports.pass2Socks5 },
            { username: 'pass', password: 'none' },
            origin.host,
            origin.port,
          ),
      },
      tcpPath('libp2p', ports.libp2p),
      ...(ports.muxFloor == null ? [] : [tcpPath('mux-floor', ports.muxFloor)]),
      ...(ports.muxFloorConnect == null
        ? []
        : [
            {
              name: 'mux-floor-connect',
              connect: () =>
                httpConnect(
                  { host: '127.0.0.1', port: ports.muxFloorConnect as number },
                  { username: 'floor', password: 'none' },
                  `${origin.host}:${origin.port}`,
                ),
            },
          ]),
    ],
    pids,
    stop: stopAll,
  };
}

/** Meadow through the gateway: SOCKS5 (the `socks` package) and HTTP CONNECT. */
export function meadowPaths(net: LocalNetwork, username = net.customer.name): Path[] {
  const creds = { username, password: net.customer.apiKey };
  return [
    { name: 'meadow-socks5', connect: () => socksConnect(net.gateway.socks, creds, net.origin.host, net.origin.port) },
    {
      name: 'meadow-connect',
      connect: () => httpConnect(net.gateway.http, creds, `${net.origin.host}:${net.origin.port}`),
    },
  ];
}

/**
 * A one-relay Meadow network and the pass-through and raw libp2p baselines, for the cost
 * benchmarks: Meadow's two paths, the two baselines and Meadow's framing without the product
 * (`mux-floor`, lib/mux-hop.ts), and the two processes each path runs through.
 */
export async function startCostPaths(
  dir: string,
  nodeFlags: readonly string[] = [],
): Promise<{
  net: LocalNetwork;
  paths: Path[];
  pidsOf: (path: Path) => number[];
  /** Every process started with `nodeFlags`, measured or not (pass1 runs but is no cost path). */
  flaggedPids: number[];
  stop: () => Promise<void>;
}> {
  const net = await startLocalNetwork({ dir, relays: 1, countries: ['DE'], nodeFlags: [...nodeFlags] });
  let baselines: Baselines | undefined;
  try {
    baselines = await startBaselines(net.origin, { muxFloor: true, nodeFlags });
    await net.waitForRoutableRelays(1, 60_000);
  } catch (err) {
    await baselines?.stop();
    await net.stop();
    throw err;
  }
  const started = baselines;
  const meadowPids = [net.gateway.service.process.pid as number, net.relays[0]?.service.process.pid as number];
  return {
    net,
    paths: [
      ...meadowPaths(net),
      ...started.paths.filter((p) =>
        ['pass2', 'pass2-connect', 'pass2-socks5', 'libp2p', 'mux-floor', 'mux-floor-connect'].includes(p.name),
      ),
    ],
    pidsOf: (path) => (path.name.startsWith('meadow') ? meadowPids : (started.pids[path.name] as number[])),
    flaggedPids: [...new Set([...meadowPids, ...Object.values(started.pids).flat()])],
    stop: async () => {
      await started.stop();
      await net.stop();
    },
  };
}
