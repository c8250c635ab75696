import { parseArgs } from 'node:util';
import { MEADOW_VERSION } from '@meadow/protocol';
import { print, reportError, requireConfig, requireConfigAndJson, usage } from './cli-helpers.ts';
import { ConfigError } from './config.ts';
import { relayMain } from './relay-cli.ts';

const HELP = `meadow ${MEADOW_VERSION} — an open, verifiable, peer-to-peer residential proxy network

Usage: meadow <command> [options]

Commands:
  demo                            run a whole local network and crawl through it
  bootstrap --config <file>       run a DHT bootstrap node
  relay init --config <file>      create a relay identity and a commented config
  relay start --config <file>     run a household relay
  relay pause|resume|status       control a running relay (--config <file>)
  relay earnings --config <file>  the relay's receipts and rewards, proofs checked locally
  relay doctor --config <file>    check a relay's setup, one line per check with a fix
  gateway start --config <file>   run a gateway (SOCKS5 + HTTP proxy for crawlers)
  gateway doctor --config <file>  check a gateway's setup, one line per check with a fix
  customer add|list|set|rotate-key|disable|enable|usage
                                  manage a gateway's customers and their plans
  ledger export|verify            export a gateway's ledger; re-check any export from scratch
  origin [--port <n>]             run the small test web site the demo crawls

Run 'meadow <command> --help' for a command's options. Example configs are in config/.`;

/** Runs the CLI and returns the process exit code; never calls process.exit itself. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const sub = rest[0] !== undefined && !rest[0].startsWith('-') ? rest[0] : undefined;
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  try {
    switch (command) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        print(HELP);
        return 0;
      case '--version':
      case 'version':
        print(MEADOW_VERSION);
        return 0;
      case 'demo': {
        // Each command loads only its own modules: a relay process never loads the gateway's.
        const { demoCommand, demoHelp } = await import('./commands/demo.ts');
        if (wantsHelp) return print(demoHelp);
        const { values } = parseArgs({
          args: rest,
          options: { relays: { type: 'string' }, keep: { type: 'boolean' } },
        });
        return await demoCommand({
          relays: values.relays == null ? undefined : wholeNumber('--relays', values.relays, 1, MAX_DEMO_RELAYS),
          keep: values.keep,
        });
      }
      case 'bootstrap': {
        const { bootstrapCommand, bootstrapHelp } = await import('./commands/bootstrap.ts');
        if (wantsHelp) return print(bootstrapHelp);
        return await bootstrapCommand({ config: requireConfig(rest, 'bootstrap') });
      }
      case 'relay':
        return await relayMain(rest);
      case 'gateway': {
        if (sub === 'doctor') {
          const { gatewayDoctorCommand, gatewayDoctorHelp } = await import('./commands/gateway-doctor.ts');
          if (wantsHelp) return print(gatewayDoctorHelp);
          const { config, json } = requireConfigAndJson(rest.slice(1), 'gateway doctor');
          return await gatewayDoctorCommand(config, { json });
        }
        const { gatewayCommand, gatewayHelp } = await import('./commands/gateway.ts');
        if (wantsHelp || sub !== 'start') return usage(gatewayHelp, wantsHelp, sub);
        return await gatewayCommand({ config: requireConfig(rest.slice(1), 'gateway start') });
      }
      case 'customer': {
        const { customerCommand, customerHelp } = await import('./commands/customer.ts');
        if (wantsHelp) return print(customerHelp);
        return await customerCommand(sub, rest.slice(1));
      }
      case 'ledger': {
        const { ledgerCommand, ledgerHelp } = await import('./commands/ledger.ts');
        if (wantsHelp) return print(ledgerHelp);
        return await ledgerCommand(sub, rest.slice(1));
      }
      case 'origin': {
        const { originCommand, originHelp } = await import('./commands/origin.ts');
        if (wantsHelp) return print(originHelp);
        const { values } = parseArgs({ args: rest, options: { host: { type: 'string' }, port: { type: 'string' } } });
        const port = values.port == null ? 0 : wholeNumber('--port', values.port, 0, 65_535);
        return await originCommand({ host: values.host ?? '127.0.0.1', port });
      }
      default:
        process.stderr.write(`meadow: unknown command "${command}"\n\n${HELP}\n`);
        return 2;
    }
  } catch (err) {
    return reportError(err);
  }
}

/** Each demo relay has its own egress address, 127.0.0.2 upwards; a machine's cores set the limit. */
const MAX_DEMO_RELAYS = 16;

function wholeNumber(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max)
    throw new ConfigError(`${flag} must be a whole number from ${min} to ${max}, got "${text}"`);
  return n;
}
