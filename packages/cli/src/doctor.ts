import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, open, rm, stat, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { createDiscovery, type DiscoveryHandle, ipOfMultiaddr, loadOrCreateIdentity } from '@meadow/discovery';
import { multiaddr } from '@multiformats/multiaddr';

// What `meadow relay doctor` and `meadow gateway doctor` share: the report, and the checks of a
// key, a data folder, the clock and the bootstrap nodes.

export type Verdict = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  name: string;
  verdict: Verdict;
  detail: string;
  fix?: string;
}

export type Report = (check: Check) => void;

const MARK: Record<Verdict, string> = { ok: '✓', warn: '!', fail: '✗', skip: '-' };
const MB = 1_000_000;
const run = promisify(execFile);

/** Prints each check as it comes (or collects them for `--json`), and the verdict at the end. */
export class DoctorReport {
  readonly checks: Check[] = [];
  private readonly json: boolean;

  constructor(options: { json?: boolean }) {
    this.json = options.json === true;
  }

  readonly report: Report = (check) => {
    this.checks.push(check);
    if (this.json) return;
    process.stdout.write(`${MARK[check.verdict]} ${check.name.padEnd(12)} ${check.detail}\n`);
    if (check.fix != null && check.verdict !== 'ok') process.stdout.write(`  ${' '.repeat(12)} fix: ${check.fix}\n`);
  };

  /** Prints the verdict; the exit status: 0 when nothing failed (warnings allowed), 1 otherwise. */
  finish(): number {
    const failed = this.checks.filter((c) => c.verdict === 'fail').length;
    const warned = this.checks.filter((c) => c.verdict === 'warn').length;
    if (this.json) process.stdout.write(`${JSON.stringify({ ok: failed === 0, checks: this.checks })}\n`);
    else
      process.stdout.write(
        `\n${failed === 0 ? 'No problem found' : `${failed} problem${failed === 1 ? '' : 's'} found`}${warned > 0 ? `, ${warned} warning${warned === 1 ? '' : 's'}` : ''}.\n`,
      );
    return failed === 0 ? 0 : 1;
  }
}

/** Loads the config as a start would (`load` throws naming the key); undefined when it does not load. */
export async function checkConfig<T>(
  configPath: string,
  load: () => Promise<T>,
  docs: string,
  report: Report,
): Promise<T | undefined> {
  try {
    const config = await load();
    report({ name: 'config', verdict: 'ok', detail: `${configPath} is valid` });
    return config;
  } catch (err) {
    report({
      name: 'config',
      verdict: 'fail',
      detail: (err as Error).message,
      fix: `correct the key named above (${docs} describes each one), then run the doctor again`,
    });
    return undefined;
  }
}

export interface IdentityAdvice {
  /** Who signs with the key, for the warning about its mode: "this relay". */
  signer: string;
  /** The verdict and fix when no key exists yet. */
  missing: { verdict: Verdict; fix: string };
  /** The fix when the key does not load. */
  broken: string;
}

/** The node's key: exists, loads, only its owner can read it. Returns its peer id when it loads. */
export async function checkIdentity(path: string, advice: IdentityAdvice, report: Report): Promise<string | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (info == null) {
    report({ name: 'identity', verdict: advice.missing.verdict, detail: `no key at ${path}`, fix: advice.missing.fix });
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
        fix: `chmod 600 ${path}: whoever reads it can sign receipts as ${advice.signer}`,
      });
    else report({ name: 'identity', verdict: 'ok', detail: `${peerId} (${path}, mode 600)` });
    return peerId;
  } catch (err) {
    report({
      name: 'identity',
      verdict: 'fail',
      detail: `${path} does not load: ${(err as Error).message}`,
      fix: advice.broken,
    });
    return undefined;
  }
}

/** The data folder is writable (a file is written, synced and removed) and has room. */
export async function checkDataFolder(
  dir: string,
  who: { role: string; stops: string },
  report: Report,
): Promise<void> {
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
      report({ name: 'data folder', verdict: 'fail', detail, fix: `free some disk space: ${who.stops}` });
    else if (free < 1_000 * MB)
      report({
        name: 'data folder',
        verdict: 'warn',
        detail,
        fix: `keep at least 1 GB free: ${who.stops}`,
      });
    else report({ name: 'data folder', verdict: 'ok', detail });
  } catch (err) {
    report({
      name: 'data folder',
      verdict: 'fail',
      detail: `${dir}: ${(err as Error).message}`,
      fix: `make dataDir in the config a folder the ${who.role} user can write (or change the key)`,
    });
  }
}

export async function checkClock(report: Report): Promise<void> {
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

/** What a doctor's throwaway DHT client learnt: how many bootstrap nodes answered, where peers saw it. */
export interface DoctorNode {
  handle: DiscoveryHandle;
  reachableBootstraps: number;
  /** This machine's addresses as the peers that answered saw them. */
  observed: Set<string>;
}

/**
 * Joins the DHT with a throwaway identity (the doctor must not appear in the DHT as the node it
 * checks), reports whether each bootstrap node answers, then runs `more` while still joined.
 */
export async function withDoctorNode<T>(
  network: { bootstrap: string[]; allowPrivateAddresses: boolean },
  report: Report,
  more: (node: DoctorNode) => Promise<T>,
): Promise<T | undefined> {
  if (network.bootstrap.length === 0) {
    report({
      name: 'bootstrap',
      verdict: 'fail',
      detail: 'network.bootstrap is empty',
      fix: 'add the bootstrap addresses your network publishes, like /ip4/…/tcp/4001/p2p/12D3…',
    });
    return undefined;
  }
  const dir = await mkdtemp(join(tmpdir(), 'meadow-doctor-'));
  let handle: DiscoveryHandle | undefined;
  try {
    handle = await createDiscovery({
      identityPath: join(dir, 'doctor.key'),
      listen: [],
      bootstrap: network.bootstrap,
      onBootstrapError: () => {},
      dhtMode: 'client',
      allowPrivateAddresses: network.allowPrivateAddresses,
      agentVersion: 'meadow-doctor',
    });
    const observed = new Set<string>();
    handle.node.addEventListener('peer:identify', (evt) => {
      const address = evt.detail.observedAddr == null ? undefined : ipOfMultiaddr(evt.detail.observedAddr);
      if (address != null) observed.add(address);
    });
    let reachable = 0;
    for (const addr of network.bootstrap) {
      try {
        const rtt = await handle.node.services.ping.ping(multiaddr(addr), { signal: AbortSignal.timeout(10_000) });
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
    return await more({ handle, reachableBootstraps: reachable, observed });
  } finally {
    await handle?.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Runs a DHT lookup up to `attempts` times, a second apart: a fresh DHT client knows only the
 * bootstrap node at first. An empty list counts as a miss until the last attempt.
 */
export async function retry<T>(task: () => Promise<T> | T, attempts: number): Promise<T> {
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
