import { stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import {
  askDialBack,
  CountryChecker,
  DIAL_BACK_ANSWER_TIMEOUT_MS,
  type Discovery,
  dialFailure,
  withoutPeerId,
} from '@meadow/discovery';
import { loadCertificate, openCustomerBook, openSessionBook } from '@meadow/gateway';
import { openLedgerStore } from '@meadow/ledger';
import { isPostgresUrl, redactUrl } from '@meadow/protocol';
import { multiaddr } from '@multiformats/multiaddr';
import { fetch } from 'undici';
import { checkBootstrapAddresses } from '../bootstrap-check.ts';
import {
  customerStoreLocation,
  type GatewayConfig,
  gatewayConfig,
  ledgerStoreLocation,
  loadConfig,
  relativeTo,
  sessionStoreLocation,
} from '../config.ts';
import {
  checkClock,
  checkConfig,
  checkDataFolder,
  checkIdentity,
  type DoctorNode,
  DoctorReport,
  type Report,
  retry,
  withDoctorNode,
} from '../doctor.ts';
import { type GatewayRunFile, httpUrl, readGatewayRunFile } from '../gateway-run-file.ts';
import { readTokenFile } from '../token-file.ts';

export const gatewayDoctorHelp = `meadow gateway doctor --config <file> [--json]

Checks a gateway's setup and prints one line per check, with a fix for each problem. Run it
before the first start, after a change to the config, and when crawlers report errors:
  config        the file is valid (every key checked as at start)
  identity      the key file loads, and only its owner can read it (the first start creates it)
  data folder   writable, with free space for meters, sessions and the ledger
  clock         plausible, and kept in sync (receipts and epochs carry timestamps)
  https         the certificate and key load and belong together; days until the certificate expires
  admin         who can reach the admin API; its token file is readable by its owner only
  customers     the customer store opens; how many customers can use the gateway
  sessions      the sticky-session store opens, and is shared wherever customers are
  ledger        the ledger store opens; this gateway's chain, and a chain left by a replaced key
  geoip         the country database loads and answers
  ports         each port in the config is free, or held by this gateway
  bootstrap     each bootstrap node in network.bootstrap answers
  listed        relays can find this gateway in the DHT (needs the gateway running)
  reachable     a relay's dial reaches it at each address the DHT lists (tried from this machine)
  outside       the bootstrap nodes, dialling back from their networks, reach it there too: a
                firewall or a missing port forward in front of the gateway shows here
  siblings      the other gateways sharing the session store are in the DHT, so relays link to them
  running       the gateway answers on its admin port and is ready for crawlers (GET /ready)

Exit status: 0 when nothing failed (warnings allowed), 1 otherwise.`;

const DAY_MS = 86_400_000;
/** As the MeadowGatewayTlsCertificateExpiring alert (config/prometheus-alerts.yml). */
const CERTIFICATE_WARN_DAYS = 14;

interface Readiness {
  ready: boolean;
  reasons: string[];
}

interface GatewayStatus {
  peerId: string;
  advertised: boolean;
  activeTunnels: number;
  relaysByCountry: Record<string, number>;
  relays: Array<{ routable: boolean }>;
}

/** A gateway answering on this config's admin port, or why none does. */
interface Running {
  url?: string;
  file?: GatewayRunFile;
  readiness?: Readiness;
  status?: GatewayStatus;
  unreachable?: string;
}

export async function gatewayDoctorCommand(configPath: string, options: { json?: boolean }): Promise<number> {
  const doctor = new DoctorReport(options);
  const report = doctor.report;
  const config = await checkConfig(
    configPath,
    async () => {
      const loaded = await loadConfig(configPath, gatewayConfig);
      checkBootstrapAddresses(configPath, loaded.network);
      return loaded;
    },
    'docs/gateway.md',
    report,
  );
  if (config == null) return doctor.finish();
  const dataDir = relativeTo(configPath, config.dataDir);
  const peerId = await checkIdentity(
    relativeTo(configPath, config.identity),
    {
      signer: 'this gateway',
      missing: {
        verdict: 'warn',
        fix: 'the first `meadow gateway start` creates it; if this gateway ran before, restore its key from a backup (relays and the ledger know the gateway by it)',
      },
      broken:
        'restore the key from a backup: a new key is a new gateway, with a new ledger chain, and relays must find it again',
    },
    report,
  );
  await checkDataFolder(
    dataDir,
    { role: 'gateway', stops: 'the gateway stops carrying traffic when it cannot record usage' },
    report,
  );
  await checkClock(report);
  const running = await probeRunning(configPath, config, dataDir);
  if (config.https != null) await checkHttps(configPath, config.https, report);
  await checkAdmin(configPath, config, report);
  await checkCustomers(configPath, config, report);
  const siblings = await checkSessions(configPath, config, peerId, report);
  await checkLedger(configPath, config, peerId, report);
  await checkGeoip(configPath, config, report);
  await checkPorts(config, running, report);
  await withDoctorNode(config.network, report, async ({ handle, reachableBootstraps }) => {
    if (reachableBootstraps === 0 || peerId == null) return;
    if (running.readiness == null)
      report({
        name: 'listed',
        verdict: 'skip',
        detail: 'the gateway is not running: a stopped gateway is not listed',
      });
    else {
      const listed = await checkListed(handle.discovery, peerId, report);
      if (listed != null) {
        await checkReachable(handle.node, listed, report);
        await checkOutside(handle.node, config.network.bootstrap, listed, report);
      }
    }
    if (siblings.length > 0) await checkSiblings(handle.discovery, siblings, report);
  });
  reportRunning(running, peerId, report);
  return doctor.finish();
}

type ListedGateway = Awaited<ReturnType<Discovery['findGateways']>>[number];

/** This gateway's record as relays find it in the DHT, with the addresses they will dial. */
async function checkListed(discovery: Discovery, peerId: string, report: Report): Promise<ListedGateway | undefined> {
  const listed = await retry(async () => {
    const found = await discovery.findGateways({ signal: AbortSignal.timeout(15_000), limit: 20 });
    // Another gateway's record is not this one's: look again until this one shows, or give up.
    const own = found.find((g) => g.id.toString() === peerId);
    if (own == null) throw new Error('not listed yet');
    return own;
  }, 5).catch(() => undefined);
  report(
    listed != null
      ? { name: 'listed', verdict: 'ok', detail: `relays find this gateway in the DHT (${peerId})` }
      : {
          name: 'listed',
          verdict: 'fail',
          detail: `this gateway (${peerId}) is not advertised in the DHT: no relay will link to it`,
          fix: 'a gateway advertises itself within seconds of start; look in its log for "advertised" and "bootstrap peer unreachable", and check that network.announce names an address relays can dial',
        },
  );
  return listed;
}

const ANNOUNCE_FIX =
  'network.announce must name the address and port relays can dial from the internet (/ip4/<public address>/tcp/<port> or /dns4/<name>/tcp/<port>), forwarded to network.listen when the gateway is behind NAT, with TCP let in by every firewall on the way';

/**
 * Dials the gateway at each address its DHT record lists, as a relay does: a new connection each
 * time (never one the doctor already holds), whose Noise handshake names the key that answers
 * there, so another node at the address is told from this gateway. From this machine, so a
 * firewall in front of it is not passed: `checkOutside` dials from elsewhere.
 */
async function checkReachable(
  node: DoctorNode['handle']['node'],
  listed: ListedGateway,
  report: Report,
): Promise<void> {
  const peer = listed.id.toString();
  if (listed.multiaddrs.length === 0) {
    report({
      name: 'reachable',
      verdict: 'fail',
      detail: 'the DHT lists this gateway without an address: relays find it, and cannot dial it',
      fix: ANNOUNCE_FIX,
    });
    return;
  }
  const tries = await Promise.all(
    listedAddresses(listed).map(async (address) => {
      const started = performance.now();
      try {
        // Without the peer id: with it, libp2p would also try every other address it knows for the peer.
        const connection = await node.dial(multiaddr(address), { force: true, signal: AbortSignal.timeout(10_000) });
        const ms = Math.round(performance.now() - started);
        const answering = connection.remotePeer.toString();
        await connection.close().catch(() => {});
        if (answering !== peer) return { address, error: `another node answers there (${answering})` };
        return { address, ms };
      } catch (err) {
        return { address, error: dialFailure(err, 10_000) };
      }
    }),
  );
  const answered = tries.filter((t) => t.error == null).map((t) => `${t.address} (${t.ms} ms)`);
  const failed = tries.filter((t) => t.error != null).map((t) => `${t.address}: ${t.error}`);
  if (failed.length === 0) {
    report({
      name: 'reachable',
      verdict: 'ok',
      detail: `a relay's dial from this machine reaches it at ${answered.join(', ')}`,
    });
  } else if (answered.length === 0) {
    report({
      name: 'reachable',
      verdict: 'fail',
      detail: `no address the DHT lists for this gateway answers a relay's dial: ${failed.join('; ')}`,
      fix: ANNOUNCE_FIX,
    });
  } else {
    report({
      name: 'reachable',
      verdict: 'warn',
      detail: `a relay's dial reaches it at ${answered.join(', ')}, but not at ${failed.join('; ')}`,
      fix: `relays try the listed addresses in turn, so each dead one delays their link: ${ANNOUNCE_FIX}`,
    });
  }
}

/** The record's addresses without the peer id, each once (libp2p may list one with and without it). */
function listedAddresses(listed: ListedGateway): string[] {
  return [...new Set(listed.multiaddrs.map((a) => withoutPeerId(a).toString()))];
}

/** At most this many bootstrap nodes are asked to dial back; each is a vantage point outside. */
const DIAL_BACK_VANTAGES = 3;

/**
 * Asks the bootstrap nodes to dial the gateway back at each address its DHT record lists, from
 * their own networks, as relays on the internet would: what the `reachable` dial from this machine
 * cannot see (a firewall, a port forward that is missing or points elsewhere) shows here.
 */
async function checkOutside(
  node: DoctorNode['handle']['node'],
  bootstraps: string[],
  listed: ListedGateway,
  report: Report,
): Promise<void> {
  const peer = listed.id.toString();
  const addresses = listedAddresses(listed);
  if (addresses.length === 0) return; // `reachable` has failed already, and says why
  const asked = await Promise.all(
    bootstraps.slice(0, DIAL_BACK_VANTAGES).map(async (bootstrap) => {
      try {
        return {
          bootstrap,
          answer: await askDialBack(node, bootstrap, addresses, AbortSignal.timeout(DIAL_BACK_ANSWER_TIMEOUT_MS)),
        };
      } catch (err) {
        const e = err as Error;
        return {
          bootstrap,
          failure:
            e.name === 'UnsupportedProtocolError'
              ? 'does not offer dial-back (dialBack: false, or a Meadow version before it)'
              : e.message,
        };
      }
    }),
  );
  const answers = asked.flatMap((a) => (a.answer != null && 'results' in a.answer ? [a.answer] : []));
  if (answers.length === 0) {
    const why = asked.map(
      (a) => `${a.bootstrap}: ${a.failure ?? (a.answer != null && 'refused' in a.answer ? a.answer.refused : '')}`,
    );
    report({ name: 'outside', verdict: 'skip', detail: `no bootstrap node dialled back (${why.join('; ')})` });
    return;
  }
  const reached: string[] = [];
  const unchecked: string[] = [];
  const failed: string[] = [];
  for (const address of addresses) {
    const tries = answers.map((a) => a.results.find((r) => r.address === address));
    const hit = tries.find((r) => r?.peer === peer);
    if (hit != null) {
      reached.push(`${address} (${hit.ms} ms)`);
      continue;
    }
    const dialled = tries.filter((r) => r != null && !r.error?.startsWith('not dialled'));
    if (dialled.length === 0) {
      unchecked.push(address);
      continue;
    }
    const other = dialled.find((r) => r?.peer != null);
    failed.push(
      `${address}: ${other?.peer != null ? `another node answers there (${other.peer})` : dialled[0]?.error}`,
    );
  }
  const seen = [...new Set(answers.map((a) => a.observed))].join(', ');
  const from = `from ${answers.length === 1 ? 'the bootstrap node' : `${answers.length} bootstrap nodes`} (seeing this machine as ${seen})`;
  const notChecked = unchecked.length > 0 ? `; not checked (not this machine's address): ${unchecked.join(', ')}` : '';
  if (failed.length === 0 && reached.length > 0)
    report({
      name: 'outside',
      verdict: unchecked.length > 0 ? 'warn' : 'ok',
      detail: `a dial ${from} reaches it at ${reached.join(', ')}${notChecked}`,
      ...(unchecked.length > 0
        ? {
            fix: 'only the address this machine dials out from can be dialled back: check the others with `nc -vz <address> <port>` from another network',
          }
        : {}),
    });
  else if (failed.length === 0)
    report({
      name: 'outside',
      verdict: 'skip',
      detail: `the bootstrap nodes see this machine as ${seen}, and dial back only there: no listed address is (${unchecked.join(', ')})`,
      fix: 'check them with `nc -vz <address> <port>` from another network, or announce the address this machine dials out from',
    });
  else
    report({
      name: 'outside',
      verdict: reached.length === 0 ? 'fail' : 'warn',
      detail: `a dial ${from} ${reached.length === 0 ? 'reaches it at no listed address:' : `reaches it at ${reached.join(', ')}, but not at`} ${failed.join('; ')}${notChecked}`,
      fix: 'let TCP in to the port from the internet (firewall, security group) and, behind NAT, forward it to the port in network.listen; "no answer" is a firewall or NAT dropping the dial, "refused" a forward to a port where nothing listens',
    });
}

/** Relays link to a sibling only if the DHT lists it as a gateway. */
async function checkSiblings(discovery: Discovery, siblings: string[], report: Report): Promise<void> {
  const listed = new Set(
    (await discovery.findGateways({ signal: AbortSignal.timeout(15_000) }).catch(() => [])).map((g) => g.id.toString()),
  );
  const unlisted = siblings.filter((id) => !listed.has(id));
  const them = unlisted.length === 1 ? 'it' : 'them';
  report(
    unlisted.length === 0
      ? {
          name: 'siblings',
          verdict: 'ok',
          detail: `relays that link here also link to ${count(siblings.length, 'sibling gateway')}, each listed in the DHT`,
        }
      : {
          name: 'siblings',
          verdict: 'warn',
          detail: `${count(unlisted.length, 'sibling gateway')} sharing the session store ${unlisted.length === 1 ? 'is' : 'are'} not in the DHT (${unlisted.join(', ')}): relays do not link to ${them}, and sessions whose requests reach ${them} leave from other relays`,
          fix: "run `meadow gateway doctor` with that gateway's config: its listed check says why relays do not find it",
        },
  );
}

async function probeRunning(configPath: string, config: GatewayConfig, dataDir: string): Promise<Running> {
  const file = await readGatewayRunFile(dataDir);
  const url = file?.adminUrl ?? (config.admin.port === 0 ? undefined : httpUrl(config.admin.host, config.admin.port));
  if (url == null)
    return { file, unreachable: 'no gateway runs: the data folder holds no gateway.json, and admin.port is 0' };
  try {
    const ready = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(3_000) });
    const readiness = (await ready.json().catch(() => undefined)) as Readiness | undefined;
    // Another program on the admin port (Prometheus also defaults to 9090) answers something else.
    if (typeof readiness?.ready !== 'boolean' || !Array.isArray(readiness.reasons))
      return {
        url,
        file,
        unreachable: `${url} answers, but not as a Meadow gateway (GET /ready: HTTP ${ready.status})`,
      };
    const token =
      config.admin.tokenFile == null
        ? undefined
        : await readTokenFile('admin.tokenFile', relativeTo(configPath, config.admin.tokenFile)).catch(() => undefined);
    const res = await fetch(`${url}/status`, {
      headers: token == null ? {} : { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(3_000),
    });
    // A wrong token is a 401: the doctor then reports readiness without the relay counts.
    const status = res.ok ? ((await res.json()) as GatewayStatus) : undefined;
    if (status == null) await res.body?.cancel();
    return { url, file, readiness, status };
  } catch (err) {
    const why = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    return { url, file, unreachable: `no gateway answers at ${url} (${why})` };
  }
}

function reportRunning(running: Running, peerId: string | undefined, report: Report): void {
  const start = 'start it: `meadow gateway start --config <file>` (or `systemctl start meadow-gateway`)';
  if (running.readiness == null) {
    report({
      name: 'running',
      verdict: 'warn',
      detail: running.unreachable ?? 'no gateway answers',
      fix: running.file == null ? start : `${start}; gateway.json is left from a gateway that did not stop cleanly`,
    });
    return;
  }
  const status = running.status;
  if (status != null && peerId != null && status.peerId !== peerId) {
    report({
      name: 'running',
      verdict: 'fail',
      detail: `the gateway at ${running.url} is ${status.peerId}, not the gateway of this config (${peerId})`,
      fix: 'two gateways share this data folder or admin port: give each its own dataDir and admin.port',
    });
    return;
  }
  const byCountry = Object.entries(status?.relaysByCountry ?? {}).map(([country, n]) => `${country} ${n}`);
  const relays =
    status == null
      ? ''
      : `; ${status.relays.filter((r) => r.routable).length} of ${status.relays.length} linked relays routable${byCountry.length > 0 ? ` (${byCountry.join(', ')})` : ''}, ${status.activeTunnels} open tunnels`;
  const since = running.file == null ? '' : ` (pid ${running.file.pid}, since ${running.file.startedAt})`;
  if (running.readiness.ready) {
    report({ name: 'running', verdict: 'ok', detail: `ready at ${running.url}${since}${relays}` });
    return;
  }
  const reasons = running.readiness.reasons;
  report({
    name: 'running',
    verdict: 'fail',
    detail: `not ready for crawlers (${reasons.join('; ')})${relays}`,
    fix: reasons.some((r) => r.startsWith('no routable relay'))
      ? 'relays link to a gateway they find in the DHT, and those linked elsewhere already try one more every 15 minutes (their gateways.trialEveryMs), so a new gateway gets relays over its first half hour: check the listed check above, and run `meadow relay doctor` on a relay'
      : reasons.some((r) => r.startsWith('metering'))
        ? 'the gateway cannot write usage: free disk space in the data folder, or bring the customer store back (its log says which)'
        : 'the gateway is stopping; start it again once it has exited',
  });
}

async function checkHttps(
  configPath: string,
  https: NonNullable<GatewayConfig['https']>,
  report: Report,
): Promise<void> {
  const files = { certFile: relativeTo(configPath, https.certFile), keyFile: relativeTo(configPath, https.keyFile) };
  let validTo: Date;
  let subject: string;
  try {
    ({ validTo, subject } = await loadCertificate(files));
  } catch (err) {
    report({
      name: 'https',
      verdict: 'fail',
      detail: (err as Error).message,
      fix: 'point https.certFile at the PEM certificate chain (fullchain.pem) and https.keyFile at its key (privkey.pem)',
    });
    return;
  }
  const days = Math.floor((validTo.getTime() - Date.now()) / DAY_MS);
  const renew =
    'renew it (certbot renew, or your CA): the gateway loads the new files within a minute, or at once on SIGHUP (systemctl reload meadow-gateway)';
  if (validTo.getTime() <= Date.now())
    report({
      name: 'https',
      verdict: 'fail',
      detail: `${subject}: expired on ${validTo.toISOString()}; crawlers refuse the https port`,
      fix: renew,
    });
  else if (days < CERTIFICATE_WARN_DAYS)
    report({
      name: 'https',
      verdict: 'warn',
      detail: `${subject}: expires in ${days} days (${validTo.toISOString()})`,
      fix: renew,
    });
  else report({ name: 'https', verdict: 'ok', detail: `${subject}, valid for ${days} more days` });
  const keyMode = (await stat(files.keyFile)).mode;
  if ((keyMode & 0o004) !== 0)
    report({
      name: 'https',
      verdict: 'warn',
      detail: `${files.keyFile} is readable by every user (mode ${(keyMode & 0o777).toString(8)})`,
      fix: `chmod 600 ${files.keyFile} (or 640, owned by the gateway's group): whoever reads it can impersonate the https port`,
    });
}

async function checkAdmin(configPath: string, config: GatewayConfig, report: Report): Promise<void> {
  const where = `${config.admin.host}:${config.admin.port === 0 ? '(any free port)' : config.admin.port}`;
  if (config.admin.tokenFile == null) {
    report({ name: 'admin', verdict: 'ok', detail: `${where}, loopback only: no token needed` });
    return;
  }
  const path = relativeTo(configPath, config.admin.tokenFile);
  try {
    await readTokenFile('admin.tokenFile', path);
  } catch (err) {
    report({
      name: 'admin',
      verdict: 'fail',
      detail: (err as Error).message,
      fix: `write a token to it: openssl rand -hex 32 > ${path} && chmod 600 ${path}`,
    });
    return;
  }
  const mode = (await stat(path)).mode;
  report(
    (mode & 0o077) === 0
      ? { name: 'admin', verdict: 'ok', detail: `${where}, token required (${path}, mode 600)` }
      : {
          name: 'admin',
          verdict: 'warn',
          detail: `${where}: ${path} is readable by others (mode ${(mode & 0o777).toString(8)})`,
          fix: `chmod 600 ${path}: the token opens the customer list and their usage`,
        },
  );
}

function unreachablePostgres(key: string): string {
  return `check ${key}: that PostgreSQL runs, is reachable from here, and accepts the user and password in the URL`;
}

async function checkCustomers(configPath: string, config: GatewayConfig, report: Report): Promise<void> {
  const location = customerStoreLocation(configPath, config);
  const seeded = config.customers.filter((c) => !c.disabled).map((c) => c.name);
  const add = `meadow customer add --config ${configPath} --name <name>`;
  if (!isPostgresUrl(location) && (await stat(location).catch(() => undefined)) == null) {
    report({
      name: 'customers',
      verdict: seeded.length > 0 ? 'ok' : 'warn',
      detail: `${location} does not exist yet (the first start creates it); ${count(seeded.length, 'customer')} listed in the config`,
      fix: `add a customer once it runs: ${add} (until then every crawler gets 407)`,
    });
    return;
  }
  try {
    const book = await openCustomerBook(location);
    try {
      const rows = book.list();
      const active = new Set([...rows.filter((c) => !c.disabled).map((c) => c.name), ...seeded]);
      const disabled = rows.filter((c) => c.disabled && !active.has(c.name)).length;
      const detail = `${redactUrl(location)}: ${count(active.size, 'active customer')}${disabled > 0 ? `, ${disabled} disabled` : ''}`;
      report(
        active.size > 0
          ? { name: 'customers', verdict: 'ok', detail }
          : { name: 'customers', verdict: 'warn', detail, fix: `${add}: until then every crawler gets 407` },
      );
    } finally {
      await book.close();
    }
  } catch (err) {
    report({
      name: 'customers',
      verdict: 'fail',
      detail: (err as Error).message,
      fix: isPostgresUrl(location)
        ? unreachablePostgres('customerStore')
        : 'check customerStore and that the gateway user can read and write the file',
    });
  }
}

/** Checks the session store; returns the sibling gateways alive in a shared one (none otherwise). */
async function checkSessions(
  configPath: string,
  config: GatewayConfig,
  peerId: string | undefined,
  report: Report,
): Promise<string[]> {
  const location = sessionStoreLocation(configPath, config);
  if (!isPostgresUrl(location)) {
    const customers = customerStoreLocation(configPath, config);
    report(
      isPostgresUrl(customers)
        ? {
            name: 'sessions',
            verdict: 'warn',
            detail: `${location}: this gateway's own, while its customers are shared through PostgreSQL`,
            fix: "set sessionStore to customerStore's URL: a session whose requests reach another gateway leaves from another relay there",
          }
        : { name: 'sessions', verdict: 'ok', detail: `${location}: this gateway's own` },
    );
    return [];
  }
  try {
    const book = await openSessionBook(location);
    let siblings: string[];
    try {
      siblings = (await book.siblings?.(peerId ?? '')) ?? [];
    } finally {
      await book.close();
    }
    report({
      name: 'sessions',
      verdict: 'ok',
      detail: `${redactUrl(location)}: shared with every gateway that names it; ${siblings.length === 0 ? 'no other gateway is using it now' : `${count(siblings.length, 'other gateway')} using it now`}`,
    });
    return siblings;
  } catch (err) {
    report({
      name: 'sessions',
      verdict: 'fail',
      detail: (err as Error).message,
      fix: unreachablePostgres('sessionStore'),
    });
    return [];
  }
}

async function checkLedger(
  configPath: string,
  config: GatewayConfig,
  peerId: string | undefined,
  report: Report,
): Promise<void> {
  const location = ledgerStoreLocation(configPath, config);
  const shared = isPostgresUrl(location);
  if (!shared && (await stat(location).catch(() => undefined)) == null) {
    report({ name: 'ledger', verdict: 'ok', detail: `${location} does not exist yet (the first start creates it)` });
    return;
  }
  let store: Awaited<ReturnType<typeof openLedgerStore>>;
  try {
    store = await openLedgerStore(location);
  } catch (err) {
    report({
      name: 'ledger',
      verdict: 'fail',
      detail: `cannot open ${redactUrl(location)}: ${(err as Error).message}`,
      fix: shared
        ? unreachablePostgres('ledger.store')
        : 'check ledger.store and that the gateway user can read and write the file',
    });
    return;
  }
  try {
    const where = redactUrl(location);
    const chains = await store.gateways();
    const head = peerId == null ? undefined : await store.head(peerId);
    if (head == null) {
      const others = chains.filter((g) => g !== peerId);
      if (others.length > 0 && !shared && peerId != null) {
        report({
          name: 'ledger',
          verdict: 'warn',
          detail: `${where} holds the chain of ${others.join(', ')} but none of this gateway's key (${peerId})`,
          fix: 'the identity key was replaced since the last start: restore the old key if you can; receipts and epochs under the old key stay in its chain, and `meadow ledger export` still includes them',
        });
      } else
        report({
          name: 'ledger',
          verdict: 'ok',
          detail: `${where}: no entry of this gateway yet${shared ? ` (${chains.length} gateways' chains in the shared store)` : ''}`,
        });
      return;
    }
    const epoch = peerId == null ? undefined : await store.lastOfKind(peerId, 'epoch');
    const lastEpoch =
      epoch == null
        ? 'no epoch closed yet'
        : `epoch ${(epoch.body as { epoch: number }).epoch} closed at ${new Date((epoch.body as { endedAt: number }).endedAt).toISOString()}`;
    report({
      name: 'ledger',
      verdict: 'ok',
      detail: `${where}: ${(head.index + 1).toLocaleString('en')} entries in this gateway's chain, ${lastEpoch}`,
    });
  } finally {
    await store.close();
  }
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

const GEOIP_FIX =
  'point geoipDatabase at a country database in MaxMind (mmdb) format, or remove the key to use the built-in one';

/** An address DB-IP places in the United States, to see that the database answers at all. */
const GEOIP_PROBE = '8.8.8.8';

async function checkGeoip(configPath: string, config: GatewayConfig, report: Report): Promise<void> {
  const file = config.geoipDatabase == null ? undefined : relativeTo(configPath, config.geoipDatabase);
  const name = file ?? 'DB-IP country lite (built in)';
  try {
    const country = (await CountryChecker.open(file)).lookup(GEOIP_PROBE);
    report(
      country == null
        ? {
            name: 'geoip',
            verdict: 'fail',
            detail: `${name} loads but has no country for ${GEOIP_PROBE}`,
            fix: GEOIP_FIX,
          }
        : { name: 'geoip', verdict: 'ok', detail: `${name}: ${GEOIP_PROBE} is in ${country}` },
    );
  } catch (err) {
    report({
      name: 'geoip',
      verdict: 'fail',
      detail: `${name} does not load: ${(err as Error).message}`,
      fix: GEOIP_FIX,
    });
  }
}

interface Listener {
  key: string;
  host: string;
  port: number;
  /** The port the running gateway holds for this key, if it runs. */
  held?: number[];
}

function listenersOf(config: GatewayConfig, run: GatewayRunFile | undefined): Listener[] {
  const live = run?.listening;
  const listeners: Listener[] = [
    { key: 'socks', ...config.socks, held: live == null ? undefined : [live.socks.port] },
    { key: 'http', ...config.http, held: live == null ? undefined : [live.http.port] },
    { key: 'admin', ...config.admin, held: live == null ? undefined : [live.admin.port] },
  ];
  if (config.https != null)
    listeners.push({
      key: 'https',
      host: config.https.host,
      port: config.https.port,
      held: live?.https == null ? undefined : [live.https.port],
    });
  const p2pHeld = live?.p2p.map((a) => Number(/\/tcp\/(\d+)/.exec(a)?.[1]));
  config.network.listen.forEach((address, i) => {
    const m = /^\/ip[46]\/([^/]+)\/tcp\/(\d+)$/.exec(address);
    if (m != null)
      listeners.push({ key: `network.listen.${i}`, host: m[1] as string, port: Number(m[2]), held: p2pHeld });
  });
  return listeners;
}

/** Each configured port: free, held by the running gateway, or why this gateway could not listen on it. */
async function checkPorts(config: GatewayConfig, running: Running, report: Report): Promise<void> {
  const live = running.readiness == null ? undefined : running.file;
  const free: string[] = [];
  const ours: string[] = [];
  const chosen: string[] = [];
  for (const l of listenersOf(config, live)) {
    const at = `${l.key} ${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`;
    if (l.port === 0) {
      chosen.push(l.key);
      continue;
    }
    if (l.held?.includes(l.port)) {
      ours.push(at);
      continue;
    }
    const code = await tryListen(l.host, l.port);
    if (code == null) free.push(at);
    else report({ name: 'ports', verdict: 'fail', ...portProblem(l, code) });
  }
  const parts = [
    free.length > 0 ? `free: ${free.join(', ')}` : '',
    ours.length > 0 ? `held by this gateway: ${ours.join(', ')}` : '',
    chosen.length > 0 ? `any free port at start: ${chosen.join(', ')}` : '',
  ].filter((p) => p !== '');
  if (parts.length > 0) report({ name: 'ports', verdict: 'ok', detail: parts.join('; ') });
}

function portProblem(l: Listener, code: string): { detail: string; fix: string } {
  const at = `${l.host}:${l.port}`;
  if (code === 'EADDRINUSE')
    return {
      detail: `${l.key}: another program listens on ${at}`,
      fix: `find it with \`ss -ltnp 'sport = :${l.port}'\` and stop it, or set ${l.key.startsWith('network') ? l.key : `${l.key}.port`} to a free port${l.port === 9090 ? ' (Prometheus listens on 9090 by default too)' : ''}`,
    };
  if (code === 'EACCES')
    return {
      detail: `${l.key}: ports below 1024 need privileges (${at})`,
      fix: `use a port above 1023, or give the gateway CAP_NET_BIND_SERVICE (AmbientCapabilities= in its systemd unit)`,
    };
  if (code === 'EADDRNOTAVAIL')
    return {
      detail: `${l.key}: ${l.host} is not an address of this machine`,
      fix: 'use one of its addresses (ip -brief address), or 0.0.0.0 for all of them',
    };
  return { detail: `${l.key}: cannot listen on ${at} (${code})`, fix: 'check the address and port in the config' };
}

/** Listens on the address for a moment; the error code if that fails. */
function tryListen(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}
