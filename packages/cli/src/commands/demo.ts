import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetch } from 'undici';
import { getViaAbsoluteUri, getViaConnect, getViaSocks5 } from '../crawl-clients.ts';
import { type LocalNetwork, startLocalNetwork } from '../local-network.ts';
import { showLedger } from './demo-ledger.ts';
import { showStickySessions } from './demo-sessions.ts';

export const demoHelp = `meadow demo [--relays 3 (1–16)] [--keep]

Starts a whole Meadow network on this machine — an origin web site, a DHT bootstrap node, a
gateway and three relays (egress 127.0.0.2, 127.0.0.3, 127.0.0.4) — as separate processes,
crawls the origin through the gateway over SOCKS5, HTTP CONNECT and HTTP absolute-URI, prints
which relay served each request and the address the origin saw, keeps one sticky session per
country on its relay for a few requests and a 16 MiB download, then the bytes each relay metered, the ledger epoch that settles them (co-signed receipts, the signed Merkle root, rewards
from revenue, the export re-verified from scratch, each relay's proof checked), and stops
everything. --keep leaves its temporary folder for inspection.`;

const RELAY_COUNT = 3;

export async function demoCommand(args: { relays?: number; keep?: boolean }): Promise<number> {
  const started = Date.now();
  const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)}s`;
  const say = (text: string): void => {
    process.stdout.write(`${text}\n`);
  };
  const dir = await mkdtemp(join(tmpdir(), 'meadow-demo-'));
  let network: LocalNetwork | undefined;
  let step = 'starting the network';
  try {
    say('Meadow demo: a local network of real processes\n');
    network = await startLocalNetwork({
      dir,
      relays: args.relays ?? RELAY_COUNT,
      countries: ['DE', 'FR', 'NL'],
      // Short epochs so the demo can show one closing: receipts, the signed root, rewards.
      gatewayConfig: { ledger: { epochSeconds: 4, receiptIntervalSeconds: 1 } },
      onProgress: (_s, detail) => say(`  [${elapsed()}] ${detail}`),
    });
    step = 'waiting for relays to publish in the DHT and link to the gateway';
    say(`  [${elapsed()}] ${step}`);
    await network.waitForRoutableRelays(network.relays.length, 40_000);
    say(`  [${elapsed()}] network up: ${network.relays.length} relays routable\n`);

    const byEgress = new Map(network.relays.map((r, i) => [r.egressAddress, { index: i + 1, r }]));
    const proxySocks = network.gateway.socks;
    const proxyHttp = network.gateway.http;
    const origin = new URL(network.origin.url);
    const creds = { username: network.customer.name, password: network.customer.apiKey };
    const requests: Array<{ protocol: string; run: () => Promise<{ status: number; body: string }> }> = [];
    for (let i = 0; i < 3; i++) {
      requests.push({
        protocol: 'SOCKS5       ',
        run: () => getViaSocks5(proxySocks, creds, origin, AbortSignal.timeout(15_000)),
      });
      requests.push({
        protocol: 'HTTP CONNECT ',
        run: () => getViaConnect(proxyHttp, creds, origin, AbortSignal.timeout(15_000)),
      });
      requests.push({
        protocol: 'HTTP absolute',
        run: () => getViaAbsoluteUri(proxyHttp, creds, origin, AbortSignal.timeout(15_000)),
      });
    }
    step = 'crawling';
    say(`Crawl of ${origin.href} (rotating: each request may take another relay)`);
    say('  #  protocol       status  origin saw    relay');
    let n = 0;
    for (const request of requests) {
      n++;
      const { status, body } = await request.run();
      if (status !== 200) throw new Error(`request ${n} over ${request.protocol.trim()} answered ${status}: ${body}`);
      const seen = (JSON.parse(body) as { youAre: string }).youAre.replace(/^::ffff:/, '');
      const relay = byEgress.get(seen);
      if (relay == null) throw new Error(`the origin saw ${seen}, which is no relay's egress address`);
      say(
        `  ${String(n).padStart(2)} ${request.protocol}  ${status}     ${seen.padEnd(12)}  relay ${relay.index} (${relay.r.country}) ${relay.r.peerId}`,
      );
    }

    step = 'running sticky sessions';
    await showStickySessions(network, say);

    step = 'reading meters';
    say('\nBytes metered (payload; relay count / gateway count):');
    // Both sides book a tunnel when it closes; give the last ones a moment.
    await new Promise((r) => setTimeout(r, 300));
    const usage = (await (await fetch(`${network.gateway.adminUrl}/usage`)).json()) as {
      relays: Record<string, { tunnels: number; bytesToTarget: number; bytesFromTarget: number }>;
    };
    const metered = new Map<string, number>();
    for (const [i, relay] of network.relays.entries()) {
      const status = (await (await fetch(`${relay.statusUrl}/status`)).json()) as {
        meter: { total: { tunnels: number; bytesToTarget: number; bytesFromTarget: number } };
      };
      const own = status.meter.total;
      const gw = usage.relays[relay.peerId] ?? { tunnels: 0, bytesToTarget: 0, bytesFromTarget: 0 };
      metered.set(relay.peerId, gw.bytesToTarget + gw.bytesFromTarget);
      say(
        `  relay ${i + 1} (${relay.egressAddress}): ${own.tunnels}/${gw.tunnels} tunnels, ` +
          `${own.bytesToTarget}/${gw.bytesToTarget} bytes up, ${own.bytesFromTarget}/${gw.bytesFromTarget} bytes down`,
      );
    }
    step = 'waiting for epochs to settle the crawl';
    await showLedger(network, dir, metered, say);

    step = 'stopping';
    say(`\n  [${elapsed()}] stopping every process`);
    await network.stop();
    network = undefined;
    say(`Demo finished in ${elapsed()}.`);
    return 0;
  } catch (err) {
    process.stderr.write(`\nDemo failed while ${step}: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await network?.stop().catch(() => {});
    if (args.keep !== true) await rm(dir, { recursive: true, force: true });
    else say(`Files kept in ${dir}`);
  }
}
