import { parseArgs } from 'node:util';
import { print, requireConfig, requireConfigAndJson, usage } from './cli-helpers.ts';
import { ConfigError } from './config.ts';

/**
 * `meadow relay …`: everything a household runs. Shared by the full CLI and the relay's release
 * archive, whose bundle holds this and nothing of the other roles.
 */
export async function relayMain(rest: string[]): Promise<number> {
  const sub = rest[0] !== undefined && !rest[0].startsWith('-') ? rest[0] : undefined;
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  const { relayCommand, relayHelp } = await import('./commands/relay.ts');
  if (wantsHelp && sub !== 'doctor') return print(relayHelp);
  if (sub === 'start') return await relayCommand({ config: requireConfig(rest.slice(1), 'relay start') });
  if (sub === 'pause' || sub === 'resume') {
    const { relayControlCommand } = await import('./commands/relay-control.ts');
    return await relayControlCommand(sub, requireConfig(rest.slice(1), `relay ${sub}`));
  }
  if (sub === 'status' || sub === 'earnings') {
    const { config, json } = requireConfigAndJson(rest.slice(1), `relay ${sub}`);
    if (sub === 'status') {
      const { relayStatusCommand } = await import('./commands/relay-control.ts');
      return await relayStatusCommand(config, { json });
    }
    const { relayEarningsCommand } = await import('./commands/relay-earnings.ts');
    return await relayEarningsCommand(config, { json });
  }
  if (sub === 'doctor') {
    const { relayDoctorCommand, relayDoctorHelp } = await import('./commands/relay-doctor.ts');
    if (wantsHelp) return print(relayDoctorHelp);
    const { config, json } = requireConfigAndJson(rest.slice(1), 'relay doctor');
    return await relayDoctorCommand(config, { json });
  }
  if (sub === 'init') {
    const { values } = parseArgs({
      args: rest.slice(1),
      options: {
        config: { type: 'string', short: 'c' },
        country: { type: 'string' },
        payout: { type: 'string' },
        bootstrap: { type: 'string', multiple: true },
      },
    });
    if (values.config == null) throw new ConfigError('relay init: --config <file> is required (the file to create)');
    const { relayInitCommand } = await import('./commands/relay-control.ts');
    return await relayInitCommand({
      config: values.config,
      country: (values.country ?? 'DE').toUpperCase(),
      payoutAddress: values.payout ?? 'your-payout-address',
      bootstrap: values.bootstrap ?? [],
    });
  }
  return usage(relayHelp, false, sub);
}
