import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { MeadowError } from '@meadow/protocol';
import { DnsHealth, type DnsHealthInit } from './dns-health.ts';

/**
 * How the relay turns a crawler's hostname into addresses to check and dial.
 *
 * Not `dns.lookup`: that is getaddrinfo on libuv's pool of four threads, so four names whose DNS
 * never answers (common in a crawl frontier) stall every other lookup on the relay for the
 * resolver's whole timeout, and each tunnel asks the household's resolver again. Here queries go
 * out asynchronously (c-ares, as Node's `dns.resolve*`), answers are cached for their TTL, and a
 * name asked for by many tunnels at once is queried once.
 */
export interface TargetResolverInit {
  /** DNS servers ("203.0.113.53", "203.0.113.53:5353", "[2001:db8::53]:53"); default: the system's. */
  servers?: string[];
  /** Answers kept in the cache, one per name and address family (least recently used go first). */
  cacheSize?: number;
  /** An answer is kept for its TTL, but never longer than this. */
  maxTtlSeconds?: number;
  /** A name that does not exist (or has no address of a family) is remembered this long. */
  negativeTtlSeconds?: number;
  /** Which families to ask for: AAAA only where the relay can reach IPv6. */
  families?: () => { ipv4: boolean; ipv6: boolean };
  /** c-ares' timeout of one try, and tries per server. */
  queryTimeoutMs?: number;
  tries?: number;
  /** When the servers count as silent (`dns-health.ts`), and who hears of it. */
  health?: DnsHealthInit;
}

export type QueryResult = 'answered' | 'not_found' | 'failed';

/** Per address family looked up: where the answer came from, and how queries to servers went. */
export interface TargetResolverStats {
  fromCache: number;
  /** Answers shared with a query another tunnel had already sent. */
  joined: number;
  queries: Record<QueryResult, number>;
  /** Seconds each query to a server took, for the histogram. */
  onQuery?: (seconds: number) => void;
}

/** c-ares' budget for one query: the timeout of a try, and tries per server (about 4 s in all). */
export const DNS_QUERY_BUDGET = { timeoutMs: 1_000, tries: 2 } as const;
/** RFC 8305's resolution delay: once one family answered, the other gets this much longer. */
export const RESOLUTION_DELAY_MS = 50;
/** While the servers are silent, a tunnel's name is sent as a probe at most this often. */
export const PROBE_INTERVAL_MS = 1_000;
/** How often the system's DNS servers are read again when none are configured (a laptop moves). */
export const SYSTEM_SERVERS_REFRESH_MS = 60_000;

type Family = 4 | 6;

interface CacheEntry {
  addresses: string[];
  /** Undefined for an answer with addresses; the DNS error code for a negative one. */
  error?: string;
  expiresAt: number;
}

const NEGATIVE = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN', 'ENONAME']);

export class TargetResolver {
  readonly stats: TargetResolverStats = { fromCache: 0, joined: 0, queries: { answered: 0, not_found: 0, failed: 0 } };
  readonly health: DnsHealth;
  private readonly init: Required<Omit<TargetResolverInit, 'servers' | 'health'>> & { servers?: string[] };
  private resolver: Resolver;
  private resolverMadeAt = Date.now();
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inFlight = new Map<string, Promise<CacheEntry>>();
  /** While the servers are silent: the one query that finds out when they answer again. */
  private probe: Promise<CacheEntry> | undefined;
  private probeStartedAt = 0;

  constructor(init: TargetResolverInit = {}) {
    this.init = {
      servers: init.servers,
      cacheSize: init.cacheSize ?? 10_000,
      maxTtlSeconds: init.maxTtlSeconds ?? 300,
      negativeTtlSeconds: init.negativeTtlSeconds ?? 30,
      families: init.families ?? (() => ({ ipv4: true, ipv6: true })),
      queryTimeoutMs: init.queryTimeoutMs ?? DNS_QUERY_BUDGET.timeoutMs,
      tries: init.tries ?? DNS_QUERY_BUDGET.tries,
    };
    this.resolver = this.makeResolver();
    this.health = new DnsHealth(init.health);
  }

  /** The servers asked: `dns.servers`, or this machine's. */
  get servers(): string[] {
    return this.resolver.getServers();
  }

  /** Cancels every query under way (their tunnels get `MEADOW_ERR_DNS_FAILED`). */
  close(): void {
    this.resolver.cancel();
  }

  /** Answers (one per name and address family) in the cache now. */
  get cacheEntries(): number {
    return this.cache.size;
  }

  /**
   * The addresses `host` names, IPv6 first where both are asked for and known. Throws
   * `MEADOW_ERR_DNS_FAILED` with the reason, or, while the servers are silent and the cache does not
   * know the name, `MEADOW_ERR_RELAY_NOT_SERVING` (the gateway tries another relay). Literals and
   * `localhost` need no query.
   */
  async resolve(host: string, signal?: AbortSignal): Promise<string[]> {
    if (isIP(host) !== 0) return [host];
    const numeric = numericIpv4(host);
    if (numeric !== undefined) {
      if (numeric === null) throw dnsFailed(host, 'is neither an IPv4 address nor a name (its last label is a number)');
      return [numeric];
    }
    // RFC 6761 §6.3: never sent to a server, always loopback (which the egress guard refuses).
    if (host === 'localhost' || host.endsWith('.localhost')) return ['::1', '127.0.0.1'];
    const { ipv4, ipv6 } = this.init.families();
    const families: Family[] = ipv6 && ipv4 ? [6, 4] : ipv6 ? [6] : [4];
    if (!this.health.answering) {
      // What the cache knows still holds; anything else waits for the servers' return.
      const known = families.map((family) => this.cached(`${family}:${host}`));
      if (known.some((entry) => (entry?.addresses.length ?? 0) > 0) || known.every((entry) => entry != null))
        return this.addressesOf(host, known);
      if (this.probe == null && Date.now() - this.probeStartedAt >= PROBE_INTERVAL_MS) {
        this.probeStartedAt = Date.now();
        this.probe = this.lookup(host, families[0] as Family).finally(() => {
          this.probe = undefined;
        });
      }
      throw this.silentServers(host);
    }
    const answers = await this.firstAnswers(
      host,
      families.map((family) => this.lookup(host, family)),
      signal,
    );
    if (!this.health.answering && answers.every((a) => (a?.addresses.length ?? 0) === 0))
      throw this.silentServers(host);
    return this.addressesOf(host, answers);
  }

  /** The addresses of the families' answers, or why there are none. */
  private addressesOf(host: string, answers: Array<CacheEntry | undefined>): string[] {
    const addresses = interleave(answers.map((a) => a?.addresses ?? []));
    if (addresses.length > 0) return addresses;
    const errors = answers.map((a) => a?.error).filter((e): e is string => e != null);
    if (errors.length === answers.length && errors.every((e) => NEGATIVE.has(e)))
      throw dnsFailed(host, `does not exist (${errors[0]})`);
    throw dnsFailed(host, `no answer (${errors.find((e) => !NEGATIVE.has(e)) ?? 'ETIMEOUT'})`);
  }

  /**
   * Waits for every family's answer, but once one has addresses the others get only
   * `RESOLUTION_DELAY_MS` more: a server that drops AAAA queries must not hold up an IPv4 answer.
   * An answer that comes later still lands in the cache.
   */
  private firstAnswers(
    host: string,
    lookups: Array<Promise<CacheEntry>>,
    signal?: AbortSignal,
  ): Promise<Array<CacheEntry | undefined>> {
    const answers: Array<CacheEntry | undefined> = lookups.map(() => undefined);
    return new Promise((resolve, reject) => {
      let pending = lookups.length;
      let delay: NodeJS.Timeout | undefined;
      const finish = (): void => {
        clearTimeout(delay);
        signal?.removeEventListener('abort', onAbort);
        resolve(answers);
      };
      const onAbort = (): void => {
        clearTimeout(delay);
        reject(dnsFailed(host, 'lookup abandoned: the tunnel closed or its deadline passed'));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      lookups.forEach((lookup, i) => {
        void lookup.then((entry) => {
          answers[i] = entry;
          if (--pending === 0) finish();
          else if (entry.addresses.length > 0 && delay == null) delay = setTimeout(finish, RESOLUTION_DELAY_MS);
        });
      });
    });
  }

  private silentServers(host: string): MeadowError {
    const { silentSince, lastError } = this.health.report();
    const since = new Date(silentSince ?? Date.now()).toISOString();
    return new MeadowError(
      'MEADOW_ERR_RELAY_NOT_SERVING',
      `this relay's DNS servers (${this.servers.join(', ')}) have not answered since ${since} (${lastError}): another relay must resolve ${host}`,
      { hop: 'relay' },
    );
  }

  /** A fresh cached answer, counted as a hit and moved to the end (least recently used goes first). */
  private cached(key: string): CacheEntry | undefined {
    const cached = this.cache.get(key);
    if (cached == null || cached.expiresAt <= Date.now()) return undefined;
    this.cache.delete(key);
    this.cache.set(key, cached);
    this.stats.fromCache++;
    return cached;
  }

  /** One family's answer: from the cache, from a query already under way, or from a new query. */
  private lookup(host: string, family: Family): Promise<CacheEntry> {
    const key = `${family}:${host}`;
    const cached = this.cached(key);
    if (cached != null) return Promise.resolve(cached);
    const running = this.inFlight.get(key);
    if (running != null) {
      this.stats.joined++;
      return running;
    }
    const query = this.query(host, family).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, query);
    return query;
  }

  private async query(host: string, family: Family): Promise<CacheEntry> {
    this.refreshSystemServers();
    const started = performance.now();
    let entry: CacheEntry;
    let result: QueryResult;
    try {
      const records =
        family === 4
          ? await this.resolver.resolve4(host, { ttl: true })
          : await this.resolver.resolve6(host, { ttl: true });
      const ttl = Math.min(this.init.maxTtlSeconds, ...records.map((r) => r.ttl));
      entry = { addresses: records.map((r) => r.address), expiresAt: Date.now() + ttl * 1000 };
      result = 'answered';
      if (ttl > 0) this.remember(`${family}:${host}`, entry);
      this.health.record(undefined);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EFAIL';
      this.health.record(code);
      const negative = NEGATIVE.has(code);
      entry = { addresses: [], error: code, expiresAt: Date.now() + this.init.negativeTtlSeconds * 1000 };
      // A timeout or a server failure says nothing about the name: the next tunnel asks again.
      result = negative ? 'not_found' : 'failed';
      if (negative) this.remember(`${family}:${host}`, entry);
    }
    this.stats.queries[result]++;
    this.stats.onQuery?.((performance.now() - started) / 1000);
    return entry;
  }

  private remember(key: string, entry: CacheEntry): void {
    this.cache.delete(key);
    this.cache.set(key, entry);
    while (this.cache.size > this.init.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
  }

  private makeResolver(): Resolver {
    const resolver = new Resolver({ timeout: this.init.queryTimeoutMs, tries: this.init.tries });
    if (this.init.servers != null && this.init.servers.length > 0) resolver.setServers(this.init.servers);
    return resolver;
  }

  /** c-ares reads the system's servers once per resolver: a new one picks up a changed resolv.conf. */
  private refreshSystemServers(): void {
    if (this.init.servers != null && this.init.servers.length > 0) return;
    const now = Date.now();
    if (now - this.resolverMadeAt < SYSTEM_SERVERS_REFRESH_MS) return;
    this.resolverMadeAt = now;
    this.resolver = this.makeResolver();
  }
}

function dnsFailed(host: string, why: string): MeadowError {
  return new MeadowError('MEADOW_ERR_DNS_FAILED', `cannot resolve ${host}: ${why}`, { hop: 'target' });
}

/** a1, b1, a2, b2, …: RFC 8305 §4's order of alternating families. */
function interleave(lists: string[][]): string[] {
  const out: string[] = [];
  const longest = Math.max(0, ...lists.map((l) => l.length));
  for (let i = 0; i < longest; i++) for (const list of lists) if (i < list.length) out.push(list[i] as string);
  return out;
}

/**
 * The WHATWG URL standard's IPv4 parser for hosts whose last label is a number ("127.1",
 * "0x7f.1", "2130706433", "0177.0.0.1"), which browsers, curl and getaddrinfo all read as IPv4:
 * the dotted form, null if the last label is numeric but the whole is no valid address, or
 * undefined for an ordinary name.
 */
export function numericIpv4(host: string): string | null | undefined {
  const labels = host.split('.');
  const last = labels[labels.length - 1] as string;
  if (!/^(0[xX][0-9a-fA-F]*|[0-9]+)$/.test(last)) return undefined;
  if (labels.length > 4) return null;
  const numbers: number[] = [];
  for (const label of labels) {
    let n: number;
    if (/^0[xX][0-9a-fA-F]*$/.test(label)) n = label.length === 2 ? 0 : Number.parseInt(label.slice(2), 16);
    else if (/^0[0-7]+$/.test(label)) n = Number.parseInt(label.slice(1), 8);
    else if (/^(0|[1-9][0-9]*)$/.test(label)) n = Number(label);
    else return null;
    numbers.push(n);
  }
  const lastNumber = numbers.pop() as number;
  if (numbers.some((n) => n > 255) || lastNumber >= 256 ** (4 - numbers.length)) return null;
  let value = lastNumber;
  numbers.forEach((n, i) => {
    value += n * 256 ** (3 - i);
  });
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}
