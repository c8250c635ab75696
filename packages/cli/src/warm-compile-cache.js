// Fills Node's compile cache with the modules of every long-running command, so the first start of
// a relay, gateway or bootstrap node after an install or upgrade is as lean as every later one:
// with a cold cache Node loads its TypeScript stripper, and an idle relay stays ~20 MiB larger
// until its next restart. The root package's postinstall runs it. It never fails an install: a
// cold cache only costs memory until the next restart.
import { spawnSync } from 'node:child_process';
import { flushCompileCache } from 'node:module';
import { fileURLToPath } from 'node:url';
import { enableMeadowCompileCache } from './compile-cache.js';

enableMeadowCompileCache();
try {
  const { SERVICE_NODE_FLAGS, missingServiceFlags } = await import('./node-flags.ts');
  if (missingServiceFlags().length > 0) {
    // A process uses only entries made under its own V8 flags: warm with the services' flags.
    const child = spawnSync(process.execPath, [...SERVICE_NODE_FLAGS, fileURLToPath(import.meta.url)], {
      stdio: 'inherit',
    });
    if (child.error != null) throw child.error;
    if (child.status !== 0) throw new Error(`the warming process ended with ${child.signal ?? `code ${child.status}`}`);
  } else {
    for (const entry of ['main', 'commands/relay', 'commands/gateway', 'commands/bootstrap', 'commands/origin']) {
      await import(`./${entry}.ts`);
    }
    flushCompileCache();
  }
} catch (err) {
  process.stderr.write(`meadow: Node's compile cache not warmed (${err.message}); first starts will use more memory\n`);
}
process.exit(0);
