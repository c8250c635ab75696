import { readFile } from 'node:fs/promises';
import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os';
import { bytesToIpv6, ipv6ToBytes, isMeadowError } from '@meadow/protocol';
import { forbiddenReason } from './address-ranges.ts';
import { EgressGuard } from './egress.ts';
import { ExitPolicy } from './exit-policy.ts';
import { HouseholdNetworks } from './household-networks.ts';

/** The `why` of the probe of a public address peers reported (`publicAddresses`). */
export const PUBLIC_ADDRESS_PROBE = "this household's public address, the router's (as peers see it)";

export interface SelfTestProbe {
  target: string;
  why: string;
  refused: boolean;
  reason: string;
}

/**
 * Asks the relay's own egress guard, configured exactly as `meadow relay start` configures it,
 * to open connections into the household's network: the router, this machine's addresses and
 * their neighbours, well-known LAN and link-local addresses, cloud metadata, and `localhost`.
 * Every probe must be refused; nothing is dialled (the guard refuses before any connect).
 */
export async function egressSelfTest(init: {
  exitPolicy: string[];
  egressAddress?: string;
  allowExactTargets: string[];
  /** This machine's interfaces; tests give others. */
  interfaces?: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
  /** Where peers see this machine (libp2p identify's observed address), as a running relay learns it. */
  publicAddresses?: string[];
}): Promise<SelfTestProbe[]> {
  const interfaces = init.interfaces ?? networkInterfaces;
  const household = new HouseholdNetworks({ egressAddress: init.egressAddress, interfaces });
  const guard = new EgressGuard({
    policy: new ExitPolicy(init.exitPolicy),
    household,
    ownPorts: new Set(),
    allowExactTargets: new Set(init.allowExactTargets),
  });
  const probes: Array<{ host: string; port: number; why: string }> = [
    { host: 'localhost', port: 80, why: 'this machine by name' },
    { host: '127.0.0.1', port: 22, why: 'this machine (loopback)' },
    { host: '::1', port: 80, why: 'this machine (IPv6 loopback)' },
    { host: '192.168.0.1', port: 80, why: 'a typical home router' },
    { host: '192.168.1.1', port: 443, why: 'a typical home router' },
    { host: '10.0.0.1', port: 80, why: 'a private network' },
    { host: '172.16.0.1', port: 80, why: 'a private network' },
    { host: '169.254.169.254', port: 80, why: 'cloud metadata / link-local' },
    { host: 'fe80::1', port: 80, why: 'IPv6 link-local' },
    { host: 'fd00::1', port: 80, why: 'IPv6 unique-local (home network)' },
    { host: '100.64.0.1', port: 80, why: 'carrier-grade NAT' },
    { host: '::ffff:192.168.1.1', port: 80, why: 'a LAN address written as IPv6' },
  ];
  for (const address of init.publicAddresses ?? []) {
    if (!household.observe(address)) continue; // private (refused anyway) or seen twice
    probes.push({ host: address, port: 80, why: PUBLIC_ADDRESS_PROBE });
  }
  const router = await defaultGateway();
  if (router != null) probes.push({ host: router, port: 80, why: "this network's router (default route)" });
  for (const list of Object.values(interfaces())) {
    for (const iface of list ?? []) {
      if (iface.internal) continue;
      probes.push({ host: iface.address, port: 80, why: 'this machine on the home network' });
      if (iface.family === 'IPv4') {
        const neighbour = iface.address.replace(/\.\d+$/, iface.address.endsWith('.1') ? '.2' : '.1');
        probes.push({ host: neighbour, port: 445, why: 'a neighbour on the home network' });
      } else if (forbiddenReason(iface.address) == null) {
        // A global IPv6 address: the rest of its /64 is the household's devices, shielded only by the router.
        probes.push({ host: firstOfPrefix(iface.address), port: 80, why: 'the router of the IPv6 home network' });
      }
    }
  }
  const results: SelfTestProbe[] = [];
  for (const probe of probes) {
    const target = probe.host.includes(':') ? `[${probe.host}]:${probe.port}` : `${probe.host}:${probe.port}`;
    try {
      await guard.resolve({ host: probe.host, port: probe.port }, { signal: AbortSignal.timeout(5_000) });
      results.push({ target, why: probe.why, refused: false, reason: 'would be dialled' });
    } catch (err) {
      const refused = isMeadowError(err) && err.code === 'MEADOW_ERR_TARGET_FORBIDDEN';
      results.push({ target, why: probe.why, refused, reason: (err as Error).message });
    }
  }
  return results;
}

/** `<the address's /64>::1`, where home routers usually sit (`::2` if that is the address itself). */
function firstOfPrefix(address: string): string {
  const bytes = ipv6ToBytes(address);
  bytes.fill(0, 8);
  bytes[15] = 1;
  const router = bytesToIpv6(bytes);
  if (router !== bytesToIpv6(ipv6ToBytes(address))) return router;
  bytes[15] = 2;
  return bytesToIpv6(bytes);
}

/** The IPv4 default route's gateway from /proc/net/route (Linux), if any. */
async function defaultGateway(): Promise<string | undefined> {
  const table = await readFile('/proc/net/route', 'utf8').catch(() => '');
  for (const line of table.split('\n').slice(1)) {
    const [, destination, gateway] = line.trim().split(/\s+/);
    if (destination !== '00000000' || gateway == null || gateway === '00000000') continue;
    const n = Number.parseInt(gateway, 16);
    return [n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255].join('.');
  }
  return undefined;
}
