import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, open, readFile, rm, stat, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { createDiscovery, type DiscoveryHandle, ipOfMultiaddr, loadOrCreateIdentity } from '@meadow/discovery';
import { DEFAULT_EXIT_POLICY, DNS_QUERY_BUDGET, egressSelfTest, PUBLIC_ADDRESS_PROBE } from '@meadow/relay';
import { multiaddr } from '@multiformats/multiaddr';
import { fetch } from 'undici';
import { checkBootstrapAddresses } from '../bootstrap-check.ts';
import { loadConfig, type RelayConfig, relativeTo, relayConfig } from '../config.ts';
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

type Verdict = 'ok' | 'warn' | 'fail' | 'skip';
interface Check {
  name: string;
  verdict: Verdict;
  detail: string;
  fix?: string;
}

const run = promisify(execFile);
const MARK: Record<Verdict, string> = { ok: '✓', warn: '!', fail: '✗', skip: '-' };
const MB = 1_000_000;

export async function relayDoctorCommand(configPath: string, options: { json?: boolean }): Promise<number> {
  const checks: Check[] = [];
  const report = (check: Check): void => {
    checks.push(check);
    if (!options.json) {
      process.stdout.write(`${MARK[check.verdict]} ${check.name.padEnd(12)} ${check.detail}\n`);
      if (check.fix != null && check.verdict !== 'ok') process.stdout.write(`  ${' '.repeat(12)} fix: ${check.fix}\n`);
    }
  };
  let config: RelayConfig;
  try {
    config = await loadConfig(configPath, relayConfig);
    householdFromConfig(config, configPath);
    checkBootstrapAddresses(configPath, config.network);
    report({ name: 'config', verdict: 'ok', detail: `${configPath} is valid` });
  } catch (err) {
    report({
      name: 'config',
      verdict: 'fail',
      detail: (err as Error).message,
      fix: 'correct the key named above (docs/relay.md describes each one), then run the doctor again',
    });
    return finish(checks, options);
  }
  const identityPath = relativeTo(configPath, config.identity);
  const dataDir = relativeTo(configPath, config.dataDir);
  const ownPeerId = await checkIdentity(identityPath, report);
  await checkDataFolder(dataDir, report);
  await checkClock(report);
  await checkEgress(config, report);
  await checkDns(config, report);
  const publicAddresses = await checkNetwork(config, ownPeerId, report);
  await checkPublicAddress(config, publicAddresses, report);
  await checkRunning(dataDir, config, report);
  return finish(checks, options);
}

function finish(checks: Check[], options: { json?: boolean }): number {
  const failed = checks.filter((c) => c.verdict === 'fail').length;
  const warned = checks.filter((c) => c.verdict === 'warn').length;
  if (options.json) process.stdout.write(`${JSON.stringify({ ok: failed === 0, checks })}\n`);
  else
    process.stdout.write(
      `\n${failed === 0 ? 'No problem found' : `${failed} problem${failed === 1 ? '' : 's'} found`}${warned > 0 ? `, ${warned} warning${warned === 1 ? '' : 's'}` : ''}.\n`,
    );
  return failed === 0 ? 0 : 1;
}

async function checkIdentity(path: string, report: (c: Check) => void): Promise<string | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (info == null) {
    report({
      name: 'identity',
      verdict: 'fail',
      detail: `no key at ${path}`,
      fix: 'run `meadow relay init --config <file>` (or `meadow relay start`, which creates it)',
    });
    return undefined;
  }
  try {
    const { privateKey } = await loadOrCreateIdentity(path);
    const peerId = peerIdFromPrivateKey(privateKey).toString();
    if ((info.mode & 0o077) !== 0)
      report({
        name: 'identity',
        verdict: 'warn',
        detail: `${peerId}, but ${path} is readable by others (mode ${(info.mode & 0o777).toString(8)})`,
        fix: `chmod 600 ${path}: whoever reads it can sign receipts as this relay`,
      });
    else report({ name: 'identity', verdict: 'ok', detail: `${peerId} (${path}, mode 600)` });
    return peerId;
  } catch (err) {
    report({
      name: 'identity',
      verdict: 'fail',
      detail: `${path} does not load: ${(err as Error).message}`,
      fix: 'restore the key from a backup; a new key is a new relay, and its earnings start from zero',
    });
    return undefined;
  }
}

async function checkDataFolder(dir: string, report: (c: Check) => void): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const probe = join(dir, `.doctor-${randomBytes(4).toString('hex')}`);
    const file = await open(probe, 'wx', 0o600);
    await file.write('meadow');
    await file.sync();
    await file.close();
    await rm(probe);
    const fs = await statfs(dir);
    const free = fs.bavail * fs.bsize;
    const detail = `${dir} is writable, ${Math.floor(free / MB).toLocaleString('en')} MB free`;
    if (free < 200 * MB)
      report({
        name: 'data folder',
        verdict: 'fail',
        detail,
        fix: 'free some disk space: the relay stops signing receipts when it cannot write them',
      });
    else if (free < 1_000 * MB)
      report({
        name: 'data folder',
        verdict: 'warn',
        detail,
        fix: 'keep at least 1 GB free for the meter and receipts',
      });
    else report({ name: 'data folder', verdict: 'ok', detail });
  } catch (err) {
    report({
      name: 'data folder',
      verdict: 'fail',
      detail: `${dir}: ${(err as Error).message}`,
      fix: 'make dataDir in the config a folder the relay user can write (or change the key)',
    });
  }
}

async function checkClock(report: (c: Check) => void): Promise<void> {
  const now = new Date();
  if (now.getUTCFullYear() < 2025 || now.getUTCFullYear() > 2100) {
    report({
      name: 'clock',
      verdict: 'fail',
      detail: `this machine says it is ${now.toISOString()}`,
      fix: 'set the date and time (timedatectl set-ntp true): gateways refuse descriptors from the past or future',
    });
    return;
  }
  const synced = await ntpSynchronized();
  if (synced === false)
    report({
      name: 'clock',
      verdict: 'warn',
      detail: `${now.toISOString()}, not synchronised with a time server`,
      fix: 'run `timedatectl set-ntp true` (or install chrony): a clock minutes off makes descriptors look future-dated or expired',
    });
  else
    report({
      name: 'clock',
      verdict: 'ok',
      detail: `${now.toISOString()}${synced ? ', synchronised (NTP)' : ' (synchronisation status unknown on this system)'}`,
    });
}

async function ntpSynchronized(): Promise<boolean | undefined> {
  try {
    const { stdout } = await run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], { timeout: 3_000 });
    return stdout.trim() === 'yes';
  } catch {
    return access('/run/systemd/timesync/synchronized', constants.F_OK).then(
      () => true,
      () => undefined,
    );
  }
}

function selfTest(config: RelayConfig, publicAddresses?: string[]) {
  return egressSelfTest({
    exitPolicy: config.egress.exitPolicy ?? DEFAULT_EXIT_POLICY,
    egressAddress: config.egress.address,
    allowExactTargets: config.egress.testOnlyAllowExactTargets,
    publicAddresses,
  });
}

async function checkEgress(config: RelayConfig, report: (c: Check) => void): Promise<void> {
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
async function checkDns(config: RelayConfig, report: (c: Check) => void): Promise<void> {
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
async function checkPublicAddress(config: RelayConfig, addresses: string[], report: (c: Check) => void): Promise<void> {
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
async function checkNetwork(
  config: RelayConfig,
  ownPeerId: string | undefined,
  report: (c: Check) => void,
): Promise<string[]> {
  const observed = new Set<string>();
  if (config.network.bootstrap.length === 0) {
    report({
      name: 'bootstrap',
      verdict: 'fail',
      detail: 'network.bootstrap is empty',
      fix: 'add the bootstrap addresses your network publishes, like /ip4/…/tcp/4001/p2p/12D3…',
    });
    return [];
  }
  // A throwaway identity: the doctor must not appear in the DHT as the relay it checks.
  const dir = await mkdtemp(join(tmpdir(), 'meadow-doctor-'));
  let handle: DiscoveryHandle | undefined;
  try {
    handle = await createDiscovery({
      identityPath: join(dir, 'doctor.key'),
      listen: [],
      bootstrap: config.network.bootstrap,
      onBootstrapError: () => {},
      dhtMode: 'client',
      allowPrivateAddresses: config.network.allowPrivateAddresses,
      agentVersion: 'meadow-doctor',
    });
    const node = handle.node;
    node.addEventListener('peer:identify', (evt) => {
      const address = evt.detail.observedAddr == null ? undefined : ipOfMultiaddr(evt.detail.observedAddr);
      if (address != null) observed.add(address);
    });
    let reachable = 0;
    for (const addr of config.network.bootstrap) {
      try {
        const rtt = await node.services.ping.ping(multiaddr(addr), { signal: AbortSignal.timeout(10_000) });
        reachable++;
        report({ name: 'bootstrap', verdict: 'ok', detail: `${addr} answers (${Math.round(rtt)} ms)` });
      } catch (err) {
        report({
          name: 'bootstrap',
          verdict: 'fail',
          detail: `${addr} does not answer: ${(err as Error).message}`,
          fix: 'check the address in network.bootstrap, and that outbound TCP to it is not blocked by a firewall',
        });
      }
    }
    if (reachable === 0) return [...observed];
    const signal = () => AbortSignal.timeout(15_000);
    // A fresh DHT client knows only the bootstrap at first: lookups get a few tries before a check fails.
    const gateways = await retry(() => handle?.discovery.findGateways({ signal: signal(), limit: 5 }) ?? [], 5);
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
          const rtt = await node.services.ping.ping(g.id, { signal: AbortSignal.timeout(10_000) });
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
    if (ownPeerId == null) return [...observed];
    try {
      const d = await retry(
        () => (handle as DiscoveryHandle).discovery.fetchDescriptor(ownPeerId, { signal: signal() }),
        3,
      );
      const inCountry = await (handle as DiscoveryHandle).discovery
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
  } finally {
    await handle?.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
  return [...observed];
}

async function checkRunning(dataDir: string, config: RelayConfig, report: (c: Check) => void): Promise<void> {
  let url = `http://${config.status.host}:${config.status.port}`;
  try {
    url = (JSON.parse(await readFile(join(dataDir, 'status.json'), 'utf8')) as { statusUrl: string }).statusUrl;
  } catch {}
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

async function retry<T>(task: () => Promise<T> | T, attempts: number): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      const result = await task();
      if (Array.isArray(result) && result.length === 0 && i < attempts) throw new Error('empty');
      return result;
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 1_000));
    }
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
