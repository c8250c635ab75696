import { MEADOW_VERSION } from '@meadow/protocol';
import { print, reportError } from './cli-helpers.ts';
import { relayMain } from './relay-cli.ts';

/**
 * The entry point of the relay's release archive (`pnpm release:relay`): the `meadow` command with
 * the household's subcommands only. Gateways, bootstrap nodes and the ledger tools run from the
 * repository, as operators do.
 */
export async function releaseMain(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        return await relayMain(['--help']);
      case '--version':
      case 'version':
        return print(MEADOW_VERSION);
      case 'relay':
        return await relayMain(rest);
      default:
        process.stderr.write(
          `meadow: "${command}" is not part of the relay's release archive, which runs household relays only ` +
            `(meadow relay --help). Gateways, bootstrap nodes and the ledger tools run from the Meadow repository: ` +
            `see its README.\n`,
        );
        return 2;
    }
  } catch (err) {
    return reportError(err);
  }
}
