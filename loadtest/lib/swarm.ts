import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SWARM_SCRIPT = fileURLToPath(new URL('../relay-swarm.ts', import.meta.url));

/** A process of real relays (`loadtest/relay-swarm.ts`). */
export interface Swarm {
  process: ChildProcess;
  relays: Array<{ peerId: string; country: string }>;
  /** Set once every relay of the swarm has published its descriptor in the DHT. */
  published: boolean;
}

export interface SwarmInit {
  dir: string;
  bootstrap: string;
  /** The first relay's egress address is 127.0.0.<firstEgress>, the next one up, and so on. */
  firstEgress: number;
  count: number;
  allowTarget: string;
  countries: string[];
  /** `gateways.trialEveryMs` of every relay (default: never try another gateway). */
  trialEveryMs?: number;
}

/** Starts `count` relays in one process; resolves once they run (not yet routable anywhere). */
export function startSwarm(init: SwarmInit): Promise<Swarm> {
  const child = spawn(process.execPath, [SWARM_SCRIPT, JSON.stringify({ ...init, bootstrap: [init.bootstrap] })], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let swarm: Swarm | undefined;
    const timer = setTimeout(() => reject(new Error('swarm not ready in 60 s')), 60_000);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const msg = JSON.parse(line) as { msg: string; relays: Swarm['relays'] };
      if (msg.msg === 'ready') {
        clearTimeout(timer);
        swarm = { process: child, relays: msg.relays, published: false };
        resolve(swarm);
      } else if (msg.msg === 'published' && swarm != null) swarm.published = true;
    });
    child.once('exit', (code) => reject(new Error(`swarm exited with ${code}`)));
  });
}

/** Stops a swarm's relays (SIGTERM) and waits until its process has exited, SIGKILL after 10 s. */
export async function stopSwarm(swarm: Swarm): Promise<void> {
  const { process: child } = swarm;
  if (child.exitCode != null || child.signalCode != null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}
