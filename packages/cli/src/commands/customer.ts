import { parseArgs } from 'node:util';
import { DEFAULT_PLAN, openCustomerBook, type Plan } from '@meadow/gateway';
import { clientNetworkProblem, formatBytes } from '@meadow/protocol';
import { ConfigError, customerStoreLocation, gatewayConfig, loadConfig } from '../config.ts';

export const customerHelp = `meadow customer <add|list|set|rotate-key|disable|enable|usage> --config <gateway config> [options]

Manages the gateway's customers (the config's customerStore: <dataDir>/customers.db, SQLite, or a
PostgreSQL database shared by several gateways). A running gateway sees changes within two seconds.

  meadow customer add --config gw.yaml --name acme [--quota-gb 100] [--price-per-gb 1.50] [--max-tunnels 256]
                      [--allow-from 203.0.113.0/24,2001:db8::/32]
      creates the customer and prints its API key — once: only its SHA-256 is stored
  meadow customer list --config gw.yaml
  meadow customer set --config gw.yaml --name acme [--quota-gb 200|none] [--price-per-gb 1.20] [--max-tunnels 64]
                      [--allow-from <networks>|any]
      changes the plan; a running gateway applies it within two seconds. --allow-from limits where
      the API key works (the crawlers' addresses or networks, comma-separated): a leaked key is then
      useless elsewhere. "any" lifts the limit
  meadow customer rotate-key --config gw.yaml --name acme
      prints a new API key, once; the old key stops working within two seconds
  meadow customer disable --config gw.yaml --name acme      (enable: the same)
  meadow customer usage --config gw.yaml [--name acme]      bytes and tunnels so far

Crawlers then use username "acme[-country-de][-session-…]" and the API key as password.`;

const GB = 1_000_000_000;

export async function customerCommand(sub: string | undefined, args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      name: { type: 'string' },
      'quota-gb': { type: 'string' },
      'price-per-gb': { type: 'string' },
      'max-tunnels': { type: 'string' },
      'allow-from': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (values.config == null) throw new ConfigError(`customer ${sub ?? ''}: --config <gateway config> is required`);
  const config = await loadConfig(values.config, gatewayConfig);
  const store = await openCustomerBook(customerStoreLocation(values.config, config));
  const out = (text: string): void => {
    process.stdout.write(`${text}\n`);
  };
  const name = (): string => {
    if (values.name == null || !/^[A-Za-z0-9_]{1,64}$/.test(values.name)) {
      throw new ConfigError('--name must be 1-64 letters, digits or underscores');
    }
    return values.name;
  };
  /** Config-listed customers are written again at every gateway start: a change here would not last. */
  const warnIfSeeded = (n: string): void => {
    if (config.customers.some((c) => c.name === n))
      process.stderr.write(
        `meadow: warning: ${n} is also listed under customers: in ${values.config}, which the gateway writes into the database at every start; change it there too\n`,
      );
  };
  const number = (flag: string, text: string | undefined, min: number, whole = false): number | undefined => {
    if (text == null) return undefined;
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || n < min || (whole && !Number.isInteger(n)))
      throw new ConfigError(`--${flag} must be a ${whole ? 'whole ' : ''}number ≥ ${min}, got "${text}"`);
    return n;
  };
  /** `--allow-from`: a comma-separated list, or "any" (null: anywhere). */
  const allowFrom = (text: string): string[] | null => {
    if (text.trim().toLowerCase() === 'any') return null;
    const list = text
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    if (list.length === 0) throw new ConfigError('--allow-from needs addresses or networks, or "any"');
    for (const entry of list) {
      const problem = clientNetworkProblem(entry);
      if (problem != null) throw new ConfigError(`--allow-from: ${problem}`);
    }
    return list;
  };
  try {
    switch (sub) {
      case 'add': {
        const quotaGb = number('quota-gb', values['quota-gb'], 0);
        const price = number('price-per-gb', values['price-per-gb'], 0);
        const maxTunnels = number('max-tunnels', values['max-tunnels'], 1, true);
        const allowedClients = values['allow-from'] == null ? null : allowFrom(values['allow-from']);
        const n = name();
        if (store.find(n) != null) {
          process.stderr.write(
            `meadow: customer "${n}" already exists: 'meadow customer set' changes its plan, 'meadow customer rotate-key' gives it a new key\n`,
          );
          return 1;
        }
        const { apiKey, customer } = await store.add(n, {
          quotaBytes: quotaGb == null ? null : Math.round(quotaGb * GB),
          priceMicrosPerGb: price == null ? DEFAULT_PLAN.priceMicrosPerGb : Math.round(price * 1_000_000),
          maxTunnels: maxTunnels == null ? DEFAULT_PLAN.maxTunnels : Math.floor(maxTunnels),
          allowedClients,
        });
        if (values.json === true) out(JSON.stringify({ name: customer.name, apiKey }));
        else {
          out(`Customer ${customer.name} created.`);
          out(`API key (shown once, store it now): ${apiKey}`);
          out(`Plan: ${planText(customer)}`);
        }
        return 0;
      }
      case 'list': {
        const customers = store.list();
        if (customers.length === 0)
          out(`No customers yet: meadow customer add --config ${values.config} --name <name>`);
        for (const c of customers) out(`${c.name.padEnd(20)} ${c.disabled ? 'disabled' : 'active  '} ${planText(c)}`);
        return 0;
      }
      case 'set': {
        const n = name();
        const quota = values['quota-gb'];
        const price = number('price-per-gb', values['price-per-gb'], 0);
        const maxTunnels = number('max-tunnels', values['max-tunnels'], 1, true);
        const plan: Partial<Plan> = {};
        if (quota === 'none') plan.quotaBytes = null;
        else if (quota != null) plan.quotaBytes = Math.round((number('quota-gb', quota, 0) as number) * GB);
        if (price != null) plan.priceMicrosPerGb = Math.round(price * 1_000_000);
        if (maxTunnels != null) plan.maxTunnels = Math.floor(maxTunnels);
        if (values['allow-from'] != null) plan.allowedClients = allowFrom(values['allow-from']);
        if (Object.keys(plan).length === 0)
          throw new ConfigError(
            'customer set: give at least one of --quota-gb, --price-per-gb, --max-tunnels, --allow-from',
          );
        if (!(await store.setPlan(n, plan))) return noCustomer(n);
        warnIfSeeded(n);
        out(`Customer ${n}: ${planText(store.find(n) as Plan)}.`);
        return 0;
      }
      case 'rotate-key': {
        const n = name();
        const apiKey = await store.rotateKey(n);
        if (apiKey == null) return noCustomer(n);
        warnIfSeeded(n);
        if (values.json === true) out(JSON.stringify({ name: n, apiKey }));
        else {
          out(`New API key for ${n} (shown once, store it now): ${apiKey}`);
          out('The old key stops working within two seconds, on a running gateway too.');
        }
        return 0;
      }
      case 'disable':
      case 'enable': {
        const n = name();
        if (!(await store.setDisabled(n, sub === 'disable'))) return noCustomer(n);
        out(`Customer ${n} ${sub}d.`);
        return 0;
      }
      case 'usage': {
        const names = values.name == null ? store.list().map((c) => c.name) : [name()];
        const rows = names.map((n) => ({ name: n, ...store.usage(n), quotaBytes: store.find(n)?.quotaBytes ?? null }));
        if (values.json === true) out(JSON.stringify(rows));
        else
          for (const r of rows) {
            const total = r.bytesToTarget + r.bytesFromTarget;
            const quota =
              r.quotaBytes == null
                ? 'no quota'
                : `${((100 * total) / Math.max(1, r.quotaBytes)).toFixed(1)}% of a ${formatBytes(r.quotaBytes)} quota`;
            out(
              `${r.name.padEnd(20)} ${r.tunnels} tunnels, ${formatBytes(r.bytesToTarget)} up, ${formatBytes(r.bytesFromTarget)} down (${quota})`,
            );
          }
        return 0;
      }
      default:
        process.stderr.write(
          `meadow: ${sub == null ? 'missing subcommand' : `unknown subcommand "${sub}"`}\n\n${customerHelp}\n`,
        );
        return 2;
    }
  } finally {
    await store.close();
  }
}

function noCustomer(name: string): number {
  process.stderr.write(`meadow: no customer "${name}" (meadow customer list shows them)\n`);
  return 1;
}

function planText(c: Plan): string {
  const quota = c.quotaBytes == null ? 'no quota' : `quota ${formatBytes(c.quotaBytes)}`;
  const from = c.allowedClients == null ? '' : `, key usable from ${c.allowedClients.join(', ')} only`;
  return `${quota}, ${(c.priceMicrosPerGb / 1_000_000).toFixed(2)} per GB, at most ${c.maxTunnels} tunnels at once${from}`;
}
