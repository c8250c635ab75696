import { enableCompileCache } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * Turns on Node's compile cache for Meadow's processes: in NODE_COMPILE_CACHE if set, else in this
 * checkout's node_modules/.cache, which outlives a reboot (the system's temporary folder may not)
 * and goes with node_modules. Plain JavaScript, so it runs before any TypeScript loads.
 */
export function enableMeadowCompileCache() {
  const dir =
    process.env.NODE_COMPILE_CACHE ||
    fileURLToPath(new URL('../../../node_modules/.cache/meadow-compile-cache', import.meta.url));
  return enableCompileCache(dir);
}
