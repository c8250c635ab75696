import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const INDEX = fileURLToPath(new URL('../src/index.ts', import.meta.url));

// A service exits when its event loop empties. libp2p's address manager re-armed a 1 s timer as
// its transports closed, so every Meadow process lingered a second after logging `stopped`.
it('leaves nothing that keeps the process alive once stopped', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'meadow-discovery-stop-'));
  try {
    const script = join(dir, 'node.ts');
    await writeFile(
      script,
      `import { createDiscovery } from ${JSON.stringify(INDEX)};
const handle = await createDiscovery({
  identityPath: ${JSON.stringify(join(dir, 'node.key'))},
  listen: ['/ip4/127.0.0.1/tcp/0'],
  bootstrap: [],
  dhtMode: 'server',
  allowPrivateAddresses: true,
  agentVersion: 'test/stop',
});
await new Promise((resolve) => setTimeout(resolve, 500));
await handle.stop();
// Fires only if something still holds the event loop half a second after the stop.
setTimeout(() => console.log(JSON.stringify(process.getActiveResourcesInfo())), 500).unref();
`,
    );
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [script], { timeout: 30_000 }, (err, out) =>
        err == null ? resolve(out) : reject(err),
      ),
    );
    expect(stdout, 'still holding the event loop 500 ms after stop').toBe('');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
