import { Resolver } from 'node:dns/promises';
import { DEFAULT_EXIT_POLICY, DNS_QUERY_BUDGET, egressSelfTest, PUBLIC_ADDRESS_PROBE } from '@meadow/relay';
import { fetch } from 'undici';
import { checkBootstrapAddresses } from '../bootstrap-check.ts';
import { loadConfig, type RelayConfig, relativeTo, relayConfig } from '../config.ts';
import {
  checkClock,
  checkConfig,
  checkDataFolder,
  checkIdentity,
  DoctorReport,
  type Report,
  retry,
  withDoctorNode,
} from '../doctor.ts';
import { readStatusUrl } from '../relay-status-file.ts';
import { householdFromConfig } from './relay.ts';

export const relayDoctorHelp = `meadow relay doctor --config <file> [--json]

Checks a relay's setup and prints one line per check, with a plain-language fix for each problem:
  config        the file is valid (every key checked as at start)
  identity      the key file exists, loads, and only its owner can read it
  data folder   writable, with free space for the meter and receipts
  clock         plausible, and kept in sync (receipts and descriptors carry timestamps)
  egress        a self-test: the relay's own egress guard refuses the household's network
                (router, this machine, LAN neighbours, link-local, cloud metadata, localhost)
  dns           each DNS server the relay asks (dns.servers, or this machine's) answers a query
  bootstrap     each bootstrap node in network.bootstrap answers
  gateway       a gateway is advertised in the DHT and answers
  listed        the relay's signed descriptor can be fetched from the DHT, and it is in its
                country's relay set (needs the relay running)
  running       the relay's local dashboard answers

Exit status: 0 when nothing failed (warnings allowed), 1 otherwise.`;

export async function relayDoctorCommand(configPath: string, options: { json?: boolean }): Promise<number> {
  const doctor = new DoctorReport(options);
  const report = doctor.report;
  const config = await checkConfig(
    configPath,
    async () => {
      const loaded = await loadConfig(configPath, relayConfig);
      householdFromConfig(loaded, configPath);
      checkBootstrapAddresses(configPath, loaded.network);
      return loaded;
    },
    'docs/relay.md',
    report,
  );
  if (config == null) return doctor.finish();
  const identityPath = relativeTo(configPath, config.identity);
  const dataDir = relativeTo(configPath, config.dataDir);
  const ownPeerId = await checkIdentity(
    identityPath,
    {
      signer: 'this relay',
      missing: {
        verdict: 'fail',
        fix: 'run `meadow relay init --config <file>` (or `meadow relay start`, which creates it)',
      },
      broken: 'restore the key from a backup; a new key is a new relay, and its earnings start from zero',
    },
    report,
  );
  await checkDataFolder(
    dataDir,
    { role: 'relay', stops: 'the relay stops signing receipts when it cannot write them' },
    report,
  );
  await checkClock(report);
  await checkEgress(config, report);
  await checkDns(config, report);
  const publicAddresses = await checkNetwork(config, ownPeerId, report);
  await checkPublicAddress(config, publicAddresses, report);
  await checkRunning(dataDir, config, report);
  return doctor.finish();
}

function selfTest(config: RelayConfig, publicAddresses?: string[]) {
  return egressSelfTest({
    exitPolicy: config.egress.exitPolicy ?? DEFAULT_EXIT_POLICY,
    egressAddress: config.egress.address,
    allowExactTargets: config.egress.testOnlyAllowExactTargets,
    publicAddresses,
  });
}

async function checkEgress(config: RelayConfig, report: Report): Promise<void> {
  const probes = await selfTest(config);
  const open = probes.filter((p) => !p.refused);
  if (open.length > 0) {
    report({
      name: 'egress',
      verdict: 'fail',
      detail: `${open.length} of ${probes.length} household addresses would be reachable: ${open.map((p) => `${p.target} (${p.why})`).join(', ')}`,
      fix: 'remove egress.testOnlyAllowExactTargets from the config; it is for tests and demos only',
    });
  } else {
    report({
      name: 'egress',
      verdict: 'ok',
      detail: `all ${probes.length} household addresses refused (router, this machine, LAN neighbours, link-local, metadata, localhost)`,
    });
  }
  if (config.egress.testOnlyAllowExactTargets.length > 0 && open.length === 0)
    report({
      name: 'egress',
      verdict: 'warn',
      detail: `test-only targets allowed: ${config.egress.testOnlyAllowExactTargets.join(', ')}`,
      fix: 'remove egress.testOnlyAllowExactTargets outside tests and demos',
    });
}

/** A name that exists on the internet (RFC 2606); any answer, even "no such name", shows the server works. */
const DNS_PROBE_NAME = 'example.com';

/** Asks each DNS server the relay will ask, with the relay's own budget per query. */
async function checkDns(config: RelayConfig, report: Report): Promise<void> {
  const where = config.dns.servers != null ? 'dns.servers' : "this machine's resolv.conf";
  const servers = config.dns.servers ?? new Resolver().getServers();
  if (servers.length === 0) {
    report({
      name: 'dns',
      verdict: 'fail',
      detail: 'no DNS server: this machine names none (/etc/resolv.conf)',
      fix: 'set dns.servers in the config, e.g. ["9.9.9.9"], or your router\'s address',
    });
    return;
  }
  const answers = await Promise.all(
    servers.map(async (server) => {
      const resolver = new Resolver({ timeout: DNS_QUERY_BUDGET.timeoutMs, tries: DNS_QUERY_BUDGET.tries });
      resolver.setServers([server]);
      const started = performance.now();
      const code = await resolver.resolve4(DNS_PROBE_NAME).then(
        () => undefined,
        (err: NodeJS.ErrnoException) => err.code ?? 'EFAIL',
      );
      const answered = code == null || code === 'ENOTFOUND' || code === 'ENODATA';
      return { server, answered, ms: Math.round(performance.now() - started), code };
    }),
  );
  const silent = answers.filter((a) => !a.answered);
  const list = (xs: typeof answers) =>
    xs.map((a) => (a.answered ? `${a.server} in ${a.ms} ms` : `${a.server} (${a.code})`)).join(', ');
  if (silent.length === 0) {
    report({ name: 'dns', verdict: 'ok', detail: `${where}: ${list(answers)}` });
    return;
  }
  report({
    name: 'dns',
    verdict: silent.length === answers.length ? 'fail' : 'warn',
    detail: `${where}: ${silent.length} of ${answers.length} DNS servers did not answer: ${list(silent)}`,
    fix:
      config.dns.servers != null
        ? "correct dns.servers in the config, or remove it to use this machine's servers"
        : 'set dns.servers in the config to a resolver that answers, e.g. ["9.9.9.9"], or your router\'s address',
  });
}

/**
 * The household's public address as the bootstrap node and gateways saw the doctor: a running relay
 * learns it the same way and refuses it (a tunnel to it would reach the router from inside).
 */
async function checkPublicAddress(config: RelayConfig, addresses: string[], report: Report): Promise<void> {
  const probes = (await selfTest(config, addresses)).filter((p) => p.why === PUBLIC_ADDRESS_PROBE);
  if (probes.length === 0) return; // no peer answered, or they saw a private address
  const open = probes.filter((p) => !p.refused);
  report(
    open.length === 0
      ? {
          name: 'egress',
          verdict: 'ok',
          detail: `your public address as the network sees it (${probes.map((p) => p.target.replace(/:80$/, '')).join(', ')}) is refused: a tunnel to it would reach your router from inside`,
        }
      : {
          name: 'egress',
          verdict: 'fail',
          detail: `your public address would be reachable: ${open.map((p) => p.target).join(', ')}`,
          fix: 'remove egress.testOnlyAllowExactTargets from the config; it is for tests and demos only',
        },
  );
}

/** Checks bootstrap, gateways and the relay's listing; returns the addresses peers saw this machine at. */
async function checkNetwork(config: RelayConfig, ownPeerId: string | undefined, report: Report): Promise<string[]> {
  const observed = await withDoctorNode(config.network, report, async ({ handle, reachableBootstraps, observed }) => {
    if (reachableBootstraps === 0) return observed;
    const signal = () => AbortSignal.timeout(15_000);
    const gateways = await retry(() => handle.discovery.findGateways({ signal: signal(), limit: 5 }), 5);
    if (gateways.length === 0) {
      report({
        name: 'gateway',
        verdict: 'fail',
        detail: 'no gateway is advertised in the DHT',
        fix: 'the network may have no gateway running right now; if others see one, check that network.bootstrap points at the right network',
      });
    } else {
      let answered: string | undefined;
      const failures: unknown[] = [];
      for (const g of gateways) {
        try {
          const rtt = await handle.node.services.ping.ping(g.id, { signal: AbortSignal.timeout(10_000) });
          answered = `${g.id.toString()} (${Math.round(rtt)} ms)`;
          break;
        } catch (err) {
          failures.push(err);
        }
      }
      report(
        answered == null
          ? { name: 'gateway', verdict: 'fail', ...noGatewayAnswered(gateways.length, failures) }
          : { name: 'gateway', verdict: 'ok', detail: `${gateways.length} advertised; ${answered} answers` },
      );
    }
    if (ownPeerId == null) return observed;
    try {
      const d = await retry(() => handle.discovery.fetchDescriptor(ownPeerId, { signal: signal() }), 3);
      const inCountry = await handle.discovery
        .findRelayIds({ country: d.country, signal: signal() })
        .then((ids) => ids.includes(ownPeerId))
        .catch(() => false);
      report({
        name: 'listed',
        verdict: inCountry ? 'ok' : 'warn',
        detail: `descriptor found: ${d.country}, ${d.state}, issued ${new Date(d.issuedAt).toISOString()}, expires ${new Date(d.expiresAt).toISOString()}${inCountry ? `, in the ${d.country} relay set` : `, not yet in the ${d.country} relay set`}`,
        fix: 'provider records spread within a few minutes of start; if this persists, check the relay log for "descriptor published"',
      });
    } catch (err) {
      report({
        name: 'listed',
        verdict: 'fail',
        detail: `the relay's descriptor is not in the DHT (${(err as Error).message})`,
        fix: 'start the relay (`meadow relay start --config <file>`); if it runs, look in its log for "descriptor published" or "bootstrap peer unreachable"',
      });
    }
    return observed;
  });
  return [...(observed ?? [])];
}

async function checkRunning(dataDir: string, config: RelayConfig, report: Report): Promise<void> {
  const url = (await readStatusUrl(dataDir)) ?? `http://${config.status.host}:${config.status.port}`;
  try {
    const res = await fetch(`${url}/status`, { signal: AbortSignal.timeout(3_000) });
    const body = (await res.json()) as { state: string; stateReason: string; gateways: unknown[] };
    report({
      name: 'running',
      verdict: body.gateways.length > 0 ? 'ok' : 'warn',
      detail: `dashboard ${url}/ — ${body.state} (${body.stateReason}), linked to ${body.gateways.length} gateway(s)`,
      fix: 'the relay is not linked to a gateway yet: see the bootstrap and gateway checks above',
    });
  } catch {
    report({
      name: 'running',
      verdict: 'warn',
      detail: `no relay answers at ${url}`,
      fix: 'start it: `meadow relay start --config <file>` (or `systemctl start meadow-relay`)',
    });
  }
}

/**
 * The gateway check's verdict when every advertised gateway failed to answer (the bootstrap node
 * did answer, or the check would not have got here): why each dial failed, in a household's words,
 * and whether there is anything for the household to do.
 */
export function noGatewayAnswered(advertised: number, failures: unknown[]): { detail: string; fix: string } {
  const reasons = failures.map(dialFailure);
  return {
    detail: `${advertised} advertised, none answered (${[...new Set(reasons)].join('; ')})`,
    fix: reasons.every((r) => r === REFUSED)
      ? 'the advertised gateways are not running (the DHT remembers a gateway for a while after it stops): nothing to fix here, the relay links as soon as one is back'
      : "the bootstrap node answers, so outbound TCP works in general: a firewall may block the gateways' ports, or they are down; the relay keeps trying",
  };
}

const REFUSED = 'connection refused';

/** Why a dial failed: libp2p wraps the socket's error, so its code is looked for in the whole chain. */
function dialFailure(err: unknown): string {
  let text = '';
  for (let e = err as { stack?: string; cause?: unknown; errors?: unknown[] } | undefined; e != null; ) {
    text += ` ${e.stack ?? String(e)}`;
    for (const inner of e.errors ?? []) text += ` ${(inner as Error)?.stack ?? String(inner)}`;
    e = e.cause as typeof e;
  }
  if (/ECONNREFUSED/.test(text)) return REFUSED;
  if (/TimeoutError|AbortError|aborted|ETIMEDOUT/i.test(text)) return 'no answer';
  return (err as Error)?.message ?? String(err);
}
