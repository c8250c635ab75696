import { parseArgs } from 'node:util';
import { SetupError } from '@meadow/protocol';
import { ConfigError } from './config.ts';

/** Prints a command's output or help; returns the exit code 0. */
export function print(text: string): number {
  process.stdout.write(`${text}\n`);
  return 0;
}

/** A command's help for `--help`, or why the subcommand was not understood (exit code 2). */
export function usage(help: string, wantsHelp: boolean, sub: string | undefined): number {
  if (wantsHelp) return print(help);
  process.stderr.write(`meadow: ${sub == null ? 'missing subcommand' : `unknown subcommand "${sub}"`}\n\n${help}\n`);
  return 2;
}

export function requireConfig(args: string[], command: string): string {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } } });
  if (values.config == null) throw new ConfigError(`${command}: --config <file> is required`);
  return values.config;
}

/** `--config <file>` (required) and `--json`, for the commands that report in either form. */
export function requireConfigAndJson(args: string[], command: string): { config: string; json?: boolean } {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } },
  });
  if (values.config == null) throw new ConfigError(`${command}: --config <file> is required`);
  return { config: values.config, json: values.json };
}

/**
 * The exit code for an error that ended a command: 2 for a wrong flag or config key (the message
 * says which), 1 for a setup that cannot work (the message says why), 1 with the stack for a bug.
 */
export function reportError(err: unknown): number {
  if (err instanceof ConfigError || String((err as { code?: string }).code).startsWith('ERR_PARSE_ARGS_')) {
    process.stderr.write(`meadow: ${(err as Error).message}\n`);
    return 2;
  }
  if (err instanceof SetupError) {
    process.stderr.write(`meadow: ${err.message}\n`);
    return 1;
  }
  process.stderr.write(`meadow: ${(err as Error).stack ?? String(err)}\n`);
  return 1;
}
