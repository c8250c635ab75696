import { stringify } from 'yaml';

/**
 * The commented relay config `meadow relay init` writes. config/relay.example.yaml is this
 * template with the placeholders below (a test keeps the two identical).
 */
export interface RelayTemplateValues {
  country: string;
  payoutAddress: string;
  bootstrap: string[];
}

export const EXAMPLE_RELAY_VALUES: RelayTemplateValues = {
  country: 'DE',
  payoutAddress: 'your-payout-address',
  bootstrap: ['/dns4/bootstrap.meadow.example/tcp/4001/p2p/12D3KooWReplaceWithTheBootstrapPeerId'],
};

/** A value as one YAML scalar: plain when that reads back the same, else quoted. */
function scalar(value: string): string {
  return stringify(value, { lineWidth: 0 }).trimEnd();
}

export function relayConfigTemplate(v: RelayTemplateValues): string {
  const bootstrap = v.bootstrap.length === 0 ? ' []' : `\n${v.bootstrap.map((b) => `    - ${scalar(b)}`).join('\n')}`;
  return `# meadow relay start --config <this file>
# A household relay. Every key is listed with its default; docs/relay.md explains each.
# Paths are relative to this file's folder.

# ed25519 identity, created with mode 0600 on first run. Its peer id is your identity in the ledger.
identity: ./.meadow/relay.key

# The meter database (SQLite) and the control token live here.
dataDir: ./.meadow/relay-data

# Your country (ISO 3166-1 alpha-2). Gateways check it against the address they see.
country: ${scalar(v.country)}

# Where rewards are paid.
payoutAddress: ${scalar(v.payoutAddress)}

network:
  # A relay dials out to gateways, so it needs no open port. Listening helps other nodes find it.
  listen: []
  announce: []
  # DHT bootstrap nodes (multiaddrs ending in /p2p/<peer id>).
  bootstrap:${bootstrap}
  allowPrivateAddresses: false

egress:
  # Local address to connect to websites from (default: chosen by the OS).
  # address: 192.0.2.15
  # Exit policy: first match wins. Your home network, this machine and private ranges are ALWAYS
  # refused, whatever you write here. Default:
  # exitPolicy: ["reject *:25", "reject *:465", "reject *:587", "reject *:135-139", "reject *:445", "accept *:*"]
  # Sites you use yourself and do not want crawled from your address (each covers every name under
  # it); gateways send those tunnels to other relays. Names only: IP addresses go in exitPolicy.
  # refuseDomains: ["bank.example", "netflix.com"]
  # Tests only: exact IP:port targets allowed despite the forbidden ranges. Never a range.
  testOnlyAllowExactTargets: []
  # Log target hosts (off by default: your relay keeps no browsing log).
  logTargets: false

# How the relay looks up websites' addresses. It asks the DNS servers itself (never this
# machine's hosts file), keeps each answer for its TTL, and asks once for many tunnels to one site.
dns:
  # servers: ["9.9.9.9", "[2620:fe::fe]:53"]   # default: this machine's, from /etc/resolv.conf
  cacheSize: 10000       # answers remembered (one per name and address family)
  maxTtlSeconds: 300     # an answer is kept for its TTL, at most this long

# Bandwidth you share, per direction. 0 = unlimited.
rateLimit:
  toTargetBytesPerSecond: 0      # gateways -> websites
  fromTargetBytesPerSecond: 0    # websites -> gateways
  burstBytes: 1048576
  # Your own traffic first: when the relay's traffic makes a ping over your line this many ms
  # slower than on an empty line (video calls stutter), the relay slows down until it is not,
  # as BitTorrent's LEDBAT does. 0 = never.
  yieldAboveDelayMs: 100

# A data cap per period (both directions added). 0 = no cap. When it is reached the relay
# hibernates (no new tunnels, open ones are cut) and wakes at a random time early in the next period.
dataCap:
  bytes: 0
  period: month                  # day | week | month
  start: "1 00:00"               # day: "HH:MM"; week: "mon HH:MM"; month: "<1-28> HH:MM"
  wakeJitterMinutes: 30

# When sharing is allowed. No windows = always. Example: evenings and weekends.
schedule:
  # timezone: Europe/Berlin      # default: this machine's time zone
  windows: []
  # windows:
  #   - { days: [mon, tue, wed, thu, fri], from: "18:00", to: "23:30" }
  #   - { days: [sat, sun], from: "09:00", to: "23:30" }

limits:
  maxTunnels: 512
  connectTimeoutMs: 10000
  idleTimeoutMs: 300000
  capacityBytesPerSecond: 12500000   # advertised to gateways
  drainTimeoutMs: 10000              # on stop, how long open tunnels may finish

gateways:
  keep: 2   # how many gateways to stay linked to (a gateway and its siblings count as one)
  siblings: 8   # gateways that share a linked gateway's sticky sessions, linked too (0: none)
  keepaliveMs: 10000      # a silent link is pinged this often (also keeps your router's NAT mapping open)
  probeTimeoutMs: 5000    # no reply in time: the link is closed and dialled again
  # Every 15 minutes, a relay linked to its "keep" gateways tries one more; 15 minutes later it lets go
  # of the one that sent it the least work (its open tunnels finish first). 0: never look further.
  trialEveryMs: 900000

# Receipts: gateways propose what this relay carried; it countersigns only if the figure is
# within the tolerance of its own count, and records a signed dispute otherwise.
ledger:
  network: meadow
  toleranceBytes: 4194304   # per direction…
  tolerancePercent: 1       # …or this share of the relay's count, whichever is larger

descriptorTtlMs: 1800000

# Local status API and metrics (loopback only): /status, /metrics, POST /control/pause|resume
status:
  host: 127.0.0.1
  port: 7070

log:
  level: info   # fatal | error | warn | info | debug | trace
  format: auto  # auto: text on a terminal, JSON lines otherwise | json | text
`;
}
