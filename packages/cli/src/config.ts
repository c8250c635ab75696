import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { addressIsLoopback, clientNetworkProblem, countryCodeProblem, isPostgresUrl } from '@meadow/protocol';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** A config problem, naming the file and the dotted path of the bad key. */
export class ConfigError extends Error {
  readonly code = 'MEADOW_ERR_CONFIG';
  /** Each bad key (dotted path) and what is wrong with it. */
  readonly issues: Array<{ key: string; message: string }>;

  constructor(message: string, issues: Array<{ key: string; message: string }> = []) {
    super(message);
    this.issues = issues;
  }
}

/** The same problems as `loadConfig` reports, for a value that did not come from a file. */
export function validateConfig<S extends z.ZodType>(
  schema: S,
  raw: unknown,
  path: string,
): { ok: true; config: z.infer<S> } | { ok: false; error: ConfigError } {
  const result = schema.safeParse(raw);
  if (result.success) return { ok: true, config: result.data };
  const issues = result.error.issues.map((issue) => ({
    key: issue.path.length === 0 ? '(top level)' : issue.path.join('.'),
    message: issue.message,
  }));
  return { ok: false, error: invalidConfig(path, issues) };
}

/** The error for a config file with these problems: one line per bad key, under the file's name. */
export function invalidConfig(path: string, issues: Array<{ key: string; message: string }>): ConfigError {
  const lines = issues.map((i) => `  ${i.key}: ${i.message}`);
  return new ConfigError(`${path}: invalid configuration\n${lines.join('\n')}`, issues);
}

const listen = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65_535),
});
const loopbackListen = listen.refine((l) => ['127.0.0.1', '::1', 'localhost'].includes(l.host), {
  message: 'must listen on a loopback address (127.0.0.1, ::1 or localhost)',
  path: ['host'],
});
const multiaddr = z
  .string()
  .regex(
    /^\/(ip4|ip6|dns4|dns6|dns)\/[^/]+\/tcp\/\d+(\/p2p\/\w+)?$/,
    'expected a TCP multiaddr like /ip4/127.0.0.1/tcp/4001',
  );
const bootstrapAddr = z
  .string()
  .regex(/^\/(ip4|ip6|dns4|dns6|dns)\/[^/]+\/tcp\/\d+\/p2p\/\w+$/, 'expected a multiaddr ending in /p2p/<peer id>');
const network = z.strictObject({
  listen: z.array(multiaddr).default([]),
  announce: z.array(multiaddr).default([]),
  bootstrap: z.array(bootstrapAddr).default([]),
  /** Keep loopback and private addresses in DHT answers: local networks and tests only. */
  allowPrivateAddresses: z.boolean().default(false),
  /** Relays only: also answer DHT queries (needs a reachable listen address). */
  dhtServer: z.boolean().default(false),
});
const networkName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 characters of a-z, 0-9 and -');
const log = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  /** auto: text on a terminal, JSON lines otherwise (a pipe, journald, a log shipper). */
  format: z.enum(['auto', 'json', 'text']).default('auto'),
});

export const bootstrapConfig = z.strictObject({
  identity: z.string(),
  network: network.default({
    listen: ['/ip4/0.0.0.0/tcp/4001'],
    announce: [],
    bootstrap: [],
    allowPrivateAddresses: false,
    dhtServer: false,
  }),
  metrics: tokenGuardedListen('metrics', 'the metrics show who is connected and how much').optional(),
  /** Dials a node back at its own announced addresses when asked (`meadow gateway doctor`). */
  dialBack: z.boolean().default(true),
  log: log.default({ level: 'info', format: 'auto' }),
});

const exactTarget = z.string().refine(
  (s) => {
    const m = /^(\[[0-9a-f:.]+\]|[^:/*\s]+):(\d{1,5})$/i.exec(s);
    return (
      m != null && isIP((m[1] as string).replace(/^\[|\]$/g, '')) !== 0 && Number(m[2]) > 0 && Number(m[2]) < 65_536
    );
  },
  { message: 'must be one exact IP:port, never a range or hostname' },
);

const timeOfDay = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time of day like 07:30');
const weekday = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);

/** A site's name, as crawlers send it: letters, digits, hyphens, underscores, dots; stored lower-case. */
const domainName = z
  .string()
  .transform((s) => s.toLowerCase().replace(/\.$/, ''))
  .refine(
    (s) => s.length <= 253 && /^[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$/.test(s) && isIP(s) === 0,
    'must be a site\'s name, like "bank.example" (which covers www.bank.example too); IP addresses go in exitPolicy',
  );

/** An address or network a customer's API key may be used from. */
const clientNetwork = z.string().superRefine((text, ctx) => {
  const problem = clientNetworkProblem(text);
  if (problem != null) ctx.addIssue({ code: 'custom', message: problem });
});

/** "203.0.113.53", "203.0.113.53:5353", "2001:db8::53" or "[2001:db8::53]:5353". */
const dnsServer = z
  .string()
  .refine(
    isDnsServer,
    'must be an IP address, optionally with a port: "203.0.113.53", "203.0.113.53:5353" or "[2001:db8::53]:5353"',
  );

function isDnsServer(s: string): boolean {
  if (isIP(s) !== 0) return true;
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s);
  if (m == null || Number(m[3]) < 1 || Number(m[3]) > 65_535) return false;
  return m[1] != null ? isIP(m[1]) === 6 : isIP(m[2] as string) === 4;
}

export const relayConfig = z.strictObject({
  identity: z.string(),
  /** Folder for the meter database and the control token. */
  dataDir: z.string().default('./.meadow/relay-data'),
  country: z
    .string()
    .superRefine((code, ctx) => {
      const problem = countryCodeProblem(code);
      if (problem != null) ctx.addIssue({ code: 'custom', message: problem });
    })
    .transform((s) => s.toUpperCase()),
  payoutAddress: z
    .string()
    .min(1, 'must not be empty: it is where your rewards are paid')
    .max(128, 'must be at most 128 characters'),
  network: network,
  egress: z
    .strictObject({
      /** Local address outbound connections are made from (default: the OS chooses). */
      address: z
        .string()
        .refine((s) => isIP(s) !== 0, 'must be an IP address')
        .optional(),
      exitPolicy: z.array(z.string()).optional(),
      /** Sites this household does not share its connection with: "bank.example" covers its subdomains too. */
      refuseDomains: z.array(domainName).max(1_000).default([]),
      /** For tests and the demo only: exact IP:port targets allowed despite the forbidden ranges. */
      testOnlyAllowExactTargets: z.array(exactTarget).max(8).default([]),
      logTargets: z.boolean().default(false),
    })
    .default({ testOnlyAllowExactTargets: [], logTargets: false, refuseDomains: [] }),
  dns: z
    .strictObject({
      /** Servers asked for websites' addresses (default: this machine's, from /etc/resolv.conf). */
      servers: z.array(dnsServer).max(8).optional(),
      /** Answers kept for their TTL, one per name and address family. */
      cacheSize: z.number().int().min(0).max(1_000_000).default(10_000),
      /** An answer is kept for its TTL, but never longer than this. */
      maxTtlSeconds: z.number().int().min(0).max(86_400).default(300),
    })
    .default({ cacheSize: 10_000, maxTtlSeconds: 300 }),
  limits: z
    .strictObject({
      maxTunnels: z.number().int().min(1).max(100_000).default(512),
      connectTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
      idleTimeoutMs: z.number().int().min(1_000).default(300_000),
      capacityBytesPerSecond: z.number().int().min(0).default(12_500_000),
      drainTimeoutMs: z.number().int().min(0).max(600_000).default(10_000),
    })
    .default({
      maxTunnels: 512,
      connectTimeoutMs: 10_000,
      idleTimeoutMs: 300_000,
      capacityBytesPerSecond: 12_500_000,
      drainTimeoutMs: 10_000,
    }),
  rateLimit: z
    .strictObject({
      /** 0 = unlimited. Bytes per second from gateways to websites (your upload). */
      toTargetBytesPerSecond: z.number().int().min(0).default(0),
      /** 0 = unlimited. Bytes per second from websites to gateways (your download, then upload). */
      fromTargetBytesPerSecond: z.number().int().min(0).default(0),
      burstBytes: z.number().int().min(16_384).default(1_048_576),
      /**
       * Your own traffic first: when the relay's traffic makes a ping over your line this much
       * slower (ms) than on an empty line, the relay slows down until it is not. 0 = never.
       */
      yieldAboveDelayMs: z
        .number()
        .int()
        .refine((ms) => ms === 0 || (ms >= 20 && ms <= 1_000), 'must be 0 (off) or 20 to 1000 ms')
        .default(100),
    })
    .default({ toTargetBytesPerSecond: 0, fromTargetBytesPerSecond: 0, burstBytes: 1_048_576, yieldAboveDelayMs: 100 }),
  dataCap: z
    .strictObject({
      /** 0 = no cap. Bytes per period, both directions added. */
      bytes: z.number().int().min(0).default(0),
      period: z.enum(['day', 'week', 'month']).default('month'),
      /** When a period starts: "HH:MM" (day), "mon HH:MM" (week), "1 HH:MM" (month, day 1-28). */
      start: z.string().default('1 00:00'),
      /** After the cap is reached, wake up at a random time this long into the next period. */
      wakeJitterMinutes: z.number().int().min(0).max(1440).default(30),
    })
    .default({ bytes: 0, period: 'month', start: '1 00:00', wakeJitterMinutes: 30 }),
  schedule: z
    .strictObject({
      /** IANA time zone for the schedule, periods and "today" (default: this machine's). */
      timezone: z.string().optional(),
      /** When sharing is allowed; empty = always. A window may cross midnight. */
      windows: z.array(z.strictObject({ days: z.array(weekday).min(1), from: timeOfDay, to: timeOfDay })).default([]),
    })
    .default({ windows: [] }),
  gateways: z
    .strictObject({
      /** Gateways to link to; a gateway and its siblings (gateways sharing its sessions) count as one. */
      keep: z.number().int().min(1).max(16).default(2),
      /** The most siblings linked beside each gateway kept (0: none), so sticky sessions hold at all of them. */
      siblings: z.number().int().min(0).max(16).default(8),
      /** A gateway link silent this long is pinged (this also keeps the router's NAT mapping open)… */
      keepaliveMs: z.number().int().min(1_000).max(300_000).default(10_000),
      /** …and closed and dialled again if no reply comes within this. */
      probeTimeoutMs: z.number().int().min(500).max(60_000).default(5_000),
      /**
       * Every this long, a relay linked to `keep` groups tries one more gateway, and as long after
       * lets go of the one that carried the fewest bytes (0: never; it then stays with the first found).
       */
      trialEveryMs: z
        .number()
        .int()
        .max(7 * 86_400_000)
        .refine((ms) => ms === 0 || ms >= 1_000, 'must be 0 (never try another gateway) or at least 1000 ms')
        .default(900_000),
    })
    .default({ keep: 2, siblings: 8, keepaliveMs: 10_000, probeTimeoutMs: 5_000, trialEveryMs: 900_000 }),
  ledger: z
    .strictObject({
      network: networkName.default('meadow'),
      /** A gateway's receipt may differ from this relay's own count by this many bytes per direction… */
      toleranceBytes: z.number().int().min(0).default(4_194_304),
      /** …or by this percentage of it, whichever is larger. */
      tolerancePercent: z.number().min(0).max(100).default(1),
    })
    .default({ network: 'meadow', toleranceBytes: 4_194_304, tolerancePercent: 1 }),
  descriptorTtlMs: z.number().int().min(10_000).max(86_400_000).default(1_800_000),
  status: loopbackListen.default({ host: '127.0.0.1', port: 7070 }),
  log: log.default({ level: 'info', format: 'auto' }),
});

/**
 * An HTTP endpoint that needs a token off loopback (`what` says what it would give away): Prometheus
 * sends it with `authorization: { credentials_file: … }`, a browser as a Basic password.
 */
function tokenGuardedListen(key: string, what: string) {
  return listen
    .extend({ tokenFile: z.string().min(1).optional() })
    .refine((a) => a.tokenFile != null || addressIsLoopback(a.host), {
      message: `is required when ${key}.host is not a loopback address: ${what} (a file with a long random token, e.g. from: openssl rand -hex 32)`,
      path: ['tokenFile'],
    });
}

export const gatewayConfig = z.strictObject({
  identity: z.string(),
  /** Folder for the customer database (SQLite). */
  dataDir: z.string().default('./.meadow/gateway-data'),
  network: network,
  socks: listen.default({ host: '127.0.0.1', port: 1080 }),
  http: listen.default({ host: '127.0.0.1', port: 8080 }),
  /** The HTTP proxy over TLS too, so that API keys never cross the network in the clear. */
  https: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65_535),
      /** PEM certificate chain (e.g. Let's Encrypt's fullchain.pem), relative to this file. */
      certFile: z.string().min(1),
      /** Its PEM private key (privkey.pem). */
      keyFile: z.string().min(1),
    })
    .optional(),
  admin: tokenGuardedListen('admin', 'the admin API lists customers and their usage').default({
    host: '127.0.0.1',
    port: 9090,
  }),
  customers: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[A-Za-z0-9_]{1,64}$/, 'must be 1-64 letters, digits or underscores'),
        apiKeySha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the hex SHA-256 of the API key'),
        disabled: z.boolean().optional(),
        priceMicrosPerGb: z.number().int().min(0).optional(),
        quotaBytes: z.number().int().min(0).nullable().optional(),
        maxTunnels: z.number().int().min(1).max(1_000_000).optional(),
        /** Networks the key may be used from ("203.0.113.0/24"); absent = anywhere. */
        allowedClients: z.array(clientNetwork).min(1).max(64).optional(),
      }),
    )
    .default([]),
  /** Customers, plans and usage: a SQLite file (relative to dataDir) or a postgres:// URL shared by several gateways. */
  customerStore: z.string().min(1).default('customers.db'),
  /**
   * Sticky sessions: a SQLite file (relative to dataDir), or a postgres:// URL shared by several
   * gateways, so that a session keeps its relay whichever gateway its requests reach.
   */
  sessionStore: z.string().min(1).default('sessions.db'),
  timeouts: z
    .strictObject({
      connectMs: z.number().int().min(100).max(120_000).default(15_000),
      handshakeMs: z.number().int().min(100).max(120_000).default(10_000),
      idleMs: z.number().int().min(1_000).default(300_000),
      /** On stop, how long open tunnels may finish after the proxy ports stop accepting. */
      drainMs: z.number().int().min(0).max(600_000).default(10_000),
      /**
       * On stop, how long the proxy ports go on serving while /ready already answers 503: set it to
       * the load balancer's health-check interval × failures to mark down, so no crawler is refused.
       */
      stopNoticeMs: z.number().int().min(0).max(600_000).default(0),
    })
    .default({ connectMs: 15_000, handshakeMs: 10_000, idleMs: 300_000, drainMs: 10_000, stopNoticeMs: 0 }),
  maxAttempts: z.number().int().min(1).max(10).default(3),
  pool: z
    .strictObject({
      /** Sybil limits: most relays linked from one public IP, and from one /24 (IPv6: /48). */
      maxRelaysPerIp: z.number().int().min(1).default(2),
      maxRelaysPerNetwork: z.number().int().min(1).default(8),
      healthCheckIntervalMs: z.number().int().min(500).default(10_000),
      maxPingFailures: z.number().int().min(1).default(3),
      describeDeadlineMs: z.number().int().min(1_000).default(60_000),
      /** A link with open tunnels, silent this long, is pinged; no reply within stallProbeTimeoutMs cuts it. */
      stallAfterMs: z.number().int().min(500).max(60_000).default(3_000),
      stallProbeTimeoutMs: z.number().int().min(500).max(60_000).default(3_000),
    })
    .default({
      maxRelaysPerIp: 2,
      maxRelaysPerNetwork: 8,
      healthCheckIntervalMs: 10_000,
      maxPingFailures: 3,
      describeDeadlineMs: 60_000,
      stallAfterMs: 3_000,
      stallProbeTimeoutMs: 3_000,
    }),
  /** An mmdb country database (default: DB-IP country lite, shipped in an npm package). */
  geoipDatabase: z.string().optional(),
  descriptorRefreshMs: z.number().int().min(1_000).default(60_000),
  ledger: z
    .strictObject({
      network: networkName.default('meadow'),
      /** A SQLite file (relative to dataDir) or a postgres:// URL shared by several gateways. */
      store: z.string().default('ledger.db'),
      /** Share of revenue kept by the protocol; the rest is the relays' pool. */
      protocolFeePercent: z.number().min(0).max(100).default(5),
      epochSeconds: z
        .number()
        .min(1)
        .max(31 * 86_400)
        .default(3_600),
      /** A receipt round every this many seconds… */
      receiptIntervalSeconds: z.number().min(0.2).max(3_600).default(30),
      /** …or as soon as a relay carried this many bytes since its last receipt. */
      receiptEveryBytes: z.number().int().min(65_536).default(268_435_456),
      /** A relay unreachable this long has its bytes not yet co-signed written off (never billed, never paid). */
      writeOffUnsignedAfterSeconds: z
        .number()
        .min(1)
        .max(366 * 86_400)
        .default(86_400),
    })
    .default({
      network: 'meadow',
      store: 'ledger.db',
      protocolFeePercent: 5,
      epochSeconds: 3_600,
      receiptIntervalSeconds: 30,
      receiptEveryBytes: 268_435_456,
      writeOffUnsignedAfterSeconds: 86_400,
    }),
  log: log.default({ level: 'info', format: 'auto' }),
});

export type BootstrapConfig = z.infer<typeof bootstrapConfig>;
export type RelayConfig = z.infer<typeof relayConfig>;
export type GatewayConfig = z.infer<typeof gatewayConfig>;

export async function loadConfig<S extends z.ZodType>(path: string, schema: S): Promise<z.infer<S>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (err) {
    throw new ConfigError(`${path}: not valid YAML: ${(err as Error).message}`);
  }
  const result = validateConfig(schema, raw, path);
  if (!result.ok) throw result.error;
  return result.config;
}

/** Paths in a config file are relative to the file's own folder. */
export function relativeTo(configPath: string, path: string): string {
  return resolve(dirname(configPath), path);
}

/** The gateway ledger's store: a postgres:// URL as given, else a SQLite file under dataDir. */
export function ledgerStoreLocation(configPath: string, config: GatewayConfig): string {
  return storeLocation(configPath, config, config.ledger.store);
}

/** The gateway's customer store: a postgres:// URL as given, else a SQLite file under dataDir. */
export function customerStoreLocation(configPath: string, config: GatewayConfig): string {
  return storeLocation(configPath, config, config.customerStore);
}

/** The gateway's sticky sessions: a postgres:// URL as given, else a SQLite file under dataDir. */
export function sessionStoreLocation(configPath: string, config: GatewayConfig): string {
  return storeLocation(configPath, config, config.sessionStore);
}

function storeLocation(configPath: string, config: GatewayConfig, store: string): string {
  if (isPostgresUrl(store)) return store;
  return resolve(relativeTo(configPath, config.dataDir), store);
}
