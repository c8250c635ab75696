import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalNetwork } from '@meadow/cli';

const dir = await mkdtemp(join(tmpdir(), 'dash-'));
const net = await startLocalNetwork({
  dir,
  relays: 1,
  countries: ['DE'],
  gatewayConfig: { ledger: { epochSeconds: 4, receiptIntervalSeconds: 1 } },
});
console.log(JSON.stringify({ dir, relay: net.relays[0]?.statusUrl, config: net.relays[0]?.configPath }));
process.on('SIGTERM', async () => {
  await net.stop();
  process.exit(0);
});
setInterval(() => {}, 1000);
