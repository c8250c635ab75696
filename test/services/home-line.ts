import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Sends `count` datagrams, one every `interval` ms, and prints each one's round trip (ms); 5 s without an answer is a loss. */
const PING_CLIENT = `
const [host, port, count, interval] = process.argv.slice(1);
const socket = require('node:dgram').createSocket('udp4');
const sent = new Map();
let answered = 0;
socket.on('message', (m) => {
  const at = sent.get(m.toString());
  if (at == null) return;
  sent.delete(m.toString());
  console.log((performance.now() - at).toFixed(1));
  if (++answered === Number(count)) socket.close();
});
let n = 0;
const timer = setInterval(() => {
  const id = String(n++);
  sent.set(id, performance.now());
  socket.send(id, Number(port), host);
  if (n === Number(count)) { clearInterval(timer); setTimeout(() => socket.close(), 5000).unref(); }
}, Number(interval));
`;

/**
 * A household's line, made on this machine from network namespaces: a home (where a relay and the
 * household's own devices sit), its modem, and this namespace as the internet. The modem forwards
 * between home and internet, and sends upstream through a token-bucket filter with a deep buffer,
 * as a cable or DSL modem's upload does. The queue must be in another namespace than the senders:
 * Linux holds back a sender whose own interface's queue fills (TCP small queues), so a filter on
 * the relay's own interface would never fill.
 */
export interface HomeLine {
  namespace: string;
  /** The internet side's address: where the gateway, the bootstrap node and the site listen. */
  internetAddress: string;
  /** The home's address on its LAN. */
  homeAddress: string;
  /** Runs a command inside the home, e.g. ['ip', 'netns', 'exec', name] + command. */
  launcher: string[];
  /** Runs a command in the home; resolves with its standard output. */
  run(command: string[]): Promise<string>;
  /** Round trips (ms) of small UDP packets from the home to `internetAddress` and back, one every `intervalMs`, for `seconds`. */
  ping(seconds: number, intervalMs?: number): Promise<number[]>;
  remove(): Promise<void>;
}

export async function createHomeLine(options: {
  uploadMbit: number;
  bufferMs: number;
  /** The home's TCP congestion control (default CUBIC, as most households' machines). */
  congestionControl?: string;
}): Promise<HomeLine> {
  const id = process.pid % 100_000;
  const namespace = `meadow-home-${id}`;
  const modem = `meadow-modem-${id}`;
  const net = `10.${200 + (id % 50)}.${(id % 120) * 2}`;
  const lan = { home: `${net}.2`, modem: `${net}.1` };
  const wanNet = `10.${200 + (id % 50)}.${(id % 120) * 2 + 1}`;
  const wan = { internet: `${wanNet}.1`, modem: `${wanNet}.2` };
  const link = { wanHere: `mh${id}w`, wanModem: `mh${id}m`, lanModem: `mh${id}l`, lanHome: `mh${id}h` };
  const inHome = ['ip', 'netns', 'exec', namespace];
  const inModem = ['ip', 'netns', 'exec', modem];
  const sh = (command: string[]) => run(command[0] as string, command.slice(1));
  const remove = async () => {
    await sh(['ip', 'link', 'del', link.wanHere]).catch(() => {});
    await sh(['ip', 'netns', 'del', namespace]).catch(() => {});
    await sh(['ip', 'netns', 'del', modem]).catch(() => {});
  };
  try {
    await sh(['ip', 'netns', 'add', namespace]);
    await sh(['ip', 'netns', 'add', modem]);
    // internet <-> modem (WAN), modem <-> home (LAN)
    await sh(['ip', 'link', 'add', link.wanHere, 'type', 'veth', 'peer', 'name', link.wanModem]);
    await sh(['ip', 'link', 'set', link.wanModem, 'netns', modem]);
    await sh(['ip', 'addr', 'add', `${wan.internet}/24`, 'dev', link.wanHere]);
    await sh(['ip', 'link', 'set', link.wanHere, 'up']);
    await sh(['ip', 'route', 'add', `${net}.0/24`, 'via', wan.modem]);
    await sh([...inModem, 'ip', 'link', 'add', link.lanModem, 'type', 'veth', 'peer', 'name', link.lanHome]);
    await sh([...inModem, 'ip', 'link', 'set', link.lanHome, 'netns', namespace]);
    await sh([...inModem, 'ip', 'addr', 'add', `${wan.modem}/24`, 'dev', link.wanModem]);
    await sh([...inModem, 'ip', 'addr', 'add', `${lan.modem}/24`, 'dev', link.lanModem]);
    for (const dev of [link.wanModem, link.lanModem, 'lo']) await sh([...inModem, 'ip', 'link', 'set', dev, 'up']);
    await sh([...inModem, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    await sh([
      ...inModem,
      ...['tc', 'qdisc', 'add', 'dev', link.wanModem, 'root', 'tbf'],
      ...['rate', `${options.uploadMbit}mbit`, 'burst', '16kb', 'latency', `${options.bufferMs}ms`],
    ]);
    await sh([...inHome, 'ip', 'addr', 'add', `${lan.home}/24`, 'dev', link.lanHome]);
    for (const dev of [link.lanHome, 'lo']) await sh([...inHome, 'ip', 'link', 'set', dev, 'up']);
    // Windows, macOS and Linux use CUBIC unless told otherwise: it fills a queue until packets
    // drop. (This machine defaults to BBR, which keeps queues short by itself; the route says
    // which to use, since a namespace here may not set the sysctl.)
    await sh([
      ...inHome,
      ...['ip', 'route', 'add', 'default', 'via', lan.modem, 'congctl', options.congestionControl ?? 'cubic'],
    ]);
  } catch (err) {
    await remove();
    throw err;
  }
  const internetAddress = wan.internet;
  const homeAddress = lan.home;
  return {
    namespace,
    internetAddress,
    homeAddress,
    launcher: inHome,
    run: async (command) => (await sh([...inHome, ...command])).stdout,
    async ping(seconds, intervalMs = 200) {
      // The household's own small packets: a UDP echo here, a client in the home that times each.
      const echo = createSocket('udp4');
      echo.on('message', (message, from) => echo.send(message, from.port, from.address));
      echo.bind(0, internetAddress);
      await once(echo, 'listening');
      try {
        const { stdout } = await sh([
          ...inHome,
          process.execPath,
          '-e',
          PING_CLIENT,
          internetAddress,
          String(echo.address().port),
          String(Math.round((seconds * 1000) / intervalMs)),
          String(intervalMs),
        ]);
        return stdout.split('\n').filter(Boolean).map(Number);
      } finally {
        echo.close();
      }
    },
    remove,
  };
}
