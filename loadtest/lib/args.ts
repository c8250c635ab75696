/**
 * This script's own arguments. `pnpm <script> -- --flag` passes the `--` through, and
 * `node:util` parseArgs would take everything after it as positionals, so a leading `--` is dropped.
 */
export function scriptArgs(argv: string[] = process.argv.slice(2)): string[] {
  return argv[0] === '--' ? argv.slice(1) : argv;
}
