import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A host in its own network namespace, linked to this one (the internet) by a veth pair, whose
 * firewall can be told to drop the connections the internet opens to one of its ports, while
 * the host itself still reaches that port at its own address, as a gateway operator's machine
 * does behind a firewall that lets nothing in.
 *
 * The drop is a `tc` class on this side of the link that sends such packets nowhere (8 bit/s, a
 * queue of one packet): this kernel has no firewall and no tc actions, and a class needs neither.
 */
export interface WalledHost {
  /** The host's address, where it listens and what the internet sees it as. */
  address: string;
  /** This namespace's address on the link: where the host reaches the internet. */
  internetAddress: string;
  /** Runs a command on the host: ['ip', 'netns', 'exec', name]. */
  launcher: string[];
  /** From now on, connections the internet opens to `port` on the host get no answer. */
  wall(port: number): Promise<void>;
  remove(): Promise<void>;
}

export async function createWalledHost(): Promise<WalledHost> {
  const id = process.pid % 100_000;
  const namespace = `meadow-walled-${id}`;
  const net = `10.${150 + (id % 50)}.${id % 250}`;
  const here = `wh${id}o`;
  const there = `wh${id}i`;
  const address = `${net}.2`;
  const internetAddress = `${net}.1`;
  const launcher = ['ip', 'netns', 'exec', namespace];
  const sh = (command: string[]) => run(command[0] as string, command.slice(1));
  const remove = async () => {
    await sh(['ip', 'link', 'del', here]).catch(() => {});
    await sh(['ip', 'netns', 'del', namespace]).catch(() => {});
  };
  try {
    await sh(['ip', 'netns', 'add', namespace]);
    await sh(['ip', 'link', 'add', here, 'type', 'veth', 'peer', 'name', there]);
    await sh(['ip', 'link', 'set', there, 'netns', namespace]);
    await sh(['ip', 'addr', 'add', `${internetAddress}/30`, 'dev', here]);
    await sh(['ip', 'link', 'set', here, 'up']);
    await sh([...launcher, 'ip', 'addr', 'add', `${address}/30`, 'dev', there]);
    for (const dev of [there, 'lo']) await sh([...launcher, 'ip', 'link', 'set', dev, 'up']);
    await sh(['tc', 'qdisc', 'add', 'dev', here, 'root', 'handle', '1:', 'htb', 'default', '10', 'r2q', '1']);
    await sh(['tc', 'class', 'add', 'dev', here, 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '1gbit']);
    await sh([
      ...['tc', 'class', 'add', 'dev', here, 'parent', '1:', 'classid', '1:20', 'htb'],
      ...['rate', '8bit', 'ceil', '8bit', 'burst', '1', 'cburst', '1', 'quantum', '1000'],
    ]);
    await sh(['tc', 'qdisc', 'add', 'dev', here, 'parent', '1:20', 'pfifo', 'limit', '1']);
  } catch (err) {
    await remove();
    throw err;
  }
  return {
    address,
    internetAddress,
    launcher,
    async wall(port) {
      await sh([
        ...['tc', 'filter', 'add', 'dev', here, 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32'],
        ...['match', 'ip', 'dst', `${address}/32`, 'match', 'ip', 'dport', String(port), '0xffff', 'flowid', '1:20'],
      ]);
    },
    remove,
  };
}
