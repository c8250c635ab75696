/**
 * This script's own arguments. `pnpm <script> -- --flag` passes the `--` through (after any flags
 * the script's own command line has), and `node:util` parseArgs would take everything after it as
 * positionals, so the first `--` is dropped.
 */
export function scriptArgs(argv: string[] = process.argv.slice(2)): string[] {
  const separator = argv.indexOf('--');
  return separator < 0 ? argv : [...argv.slice(0, separator), ...argv.slice(separator + 1)];
}
