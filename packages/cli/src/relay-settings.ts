import { randomBytes } from 'node:crypto';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { type HouseholdSettings, type SaveResult, SETTINGS_FIELDS, type SettingsStore } from '@meadow/relay';
import { parseDocument } from 'yaml';
import { householdFromConfig } from './commands/relay.ts';
import { ConfigError, relayConfig, validateConfig } from './config.ts';

/**
 * The dashboard's settings, kept in the relay's own config file: each save edits just those keys
 * (comments and everything else stay as the household wrote them), is validated by the same rules
 * as `meadow relay start`, and replaces the file atomically only when it is valid.
 */
export function configFileSettings(configPath: string): SettingsStore {
  let queue: Promise<unknown> = Promise.resolve();
  const read = async (): Promise<HouseholdSettings> => {
    const doc = parseDocument(await readFile(configPath, 'utf8'));
    const result = validateConfig(relayConfig, doc.toJS() ?? {}, configPath);
    if (!result.ok) throw result.error;
    const c = result.config;
    return {
      dataCap: { bytes: c.dataCap.bytes, period: c.dataCap.period, start: c.dataCap.start },
      rateLimit: {
        toTargetBytesPerSecond: c.rateLimit.toTargetBytesPerSecond,
        fromTargetBytesPerSecond: c.rateLimit.fromTargetBytesPerSecond,
      },
      schedule: {
        timezone: c.schedule.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone,
        windows: c.schedule.windows,
      },
    };
  };
  const save = async (settings: HouseholdSettings): Promise<SaveResult> => {
    const text = await readFile(configPath, 'utf8');
    const doc = parseDocument(text);
    doc.setIn(['dataCap', 'bytes'], settings.dataCap.bytes);
    doc.setIn(['dataCap', 'period'], settings.dataCap.period);
    doc.setIn(['dataCap', 'start'], settings.dataCap.start);
    doc.setIn(['rateLimit', 'toTargetBytesPerSecond'], settings.rateLimit.toTargetBytesPerSecond);
    doc.setIn(['rateLimit', 'fromTargetBytesPerSecond'], settings.rateLimit.fromTargetBytesPerSecond);
    doc.setIn(['schedule', 'timezone'], settings.schedule.timezone);
    doc.setIn(['schedule', 'windows'], doc.createNode(settings.schedule.windows, { flow: false }));
    const checked = validateConfig(relayConfig, doc.toJS(), configPath);
    if (!checked.ok) return { ok: false, errors: fieldErrors(checked.error) };
    let household: ReturnType<typeof householdFromConfig>;
    try {
      household = householdFromConfig(checked.config, configPath);
    } catch (err) {
      if (err instanceof ConfigError) return { ok: false, errors: fieldErrors(err) };
      throw err;
    }
    const { mode } = await stat(configPath);
    const temporary = `${configPath}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temporary, doc.toString(), { mode: mode & 0o777 });
    await rename(temporary, configPath);
    return { ok: true, household };
  };
  return {
    read,
    // One save at a time, so two quick submissions cannot interleave their read-modify-write.
    save: (settings) => {
      const run = queue.then(() => save(settings));
      queue = run.catch(() => {});
      return run;
    },
  };
}

/** Config keys mapped onto the form's fields (schedule.windows.0.from → schedule.windows). */
function fieldErrors(error: ConfigError): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const { key, message } of error.issues) {
    const field = SETTINGS_FIELDS.find((f) => key === f || key.startsWith(`${f}.`)) ?? key;
    errors[field] ??= key === field ? message : `${key.slice(field.length + 1)}: ${message}`;
  }
  if (error.issues.length === 0) errors.form = error.message;
  return errors;
}
