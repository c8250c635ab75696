import { BlockList, isIP } from 'node:net';
import { type NetworkInterfaceInfo, networkInterfaces } from 'node:os';
import { embeddedIpv4, forbiddenReason } from './address-ranges.ts';

/**
 * An IPv6 home network is delegated a prefix of /48 to /64 (RFC 6177), and every device in it has a
 * global address that the router's firewall shields from the internet, not from the relay inside
 * it. A router may number its networks anywhere in the delegated prefix (a guest network at
 * `…:ff00::/64` of a /48), and the relay cannot ask it which prefix it holds. So a public interface
 * address makes the relay refuse the widest delegation around it, the /48: what falls in it beside
 * the household is other residential customers of the same ISP, no crawler's target.
 */
export const IPV6_HOUSEHOLD_PREFIX = 48;
/** Public addresses that peers reported seeing this relay at, newest kept: a lying peer can add only this many. */
export const MAX_OBSERVED_ADDRESSES = 16;

type Interfaces = () => NodeJS.Dict<NetworkInterfaceInfo[]>;

/**
 * The household's own addresses and networks, which no tunnel may reach even where they are public
 * addresses (the forbidden ranges in address-ranges.ts cover the private ones):
 * - this machine's interface addresses, and the configured egress address;
 * - the public subnets those interfaces are on (an IPv6 LAN, a public IPv4 LAN), where the
 *   household's other devices, its router among them, sit behind the router's firewall;
 * - the household's public IPv4 address as peers see it (identify's observed address): the NAT
 *   router's own address, where a connection from inside reaches its admin page and every forwarded
 *   port as if from the LAN ("hairpin" NAT).
 */
export class HouseholdNetworks {
  private readonly interfaces: Interfaces;
  private readonly egressAddress: string | undefined;
  private own = new BlockList();
  private networks = new BlockList();
  private hasNetworks = false;
  private publicIpv6 = false;
  private networkKey = '';
  private readonly observed = new Map<string, number>();
  private observedList = new BlockList();

  constructor(init: { egressAddress?: string; interfaces?: Interfaces } = {}) {
    this.interfaces = init.interfaces ?? networkInterfaces;
    this.egressAddress = init.egressAddress;
    this.refresh();
  }

  /** Re-reads the interfaces (DHCP and SLAAC change them while the relay runs); true if anything changed. */
  refresh(): boolean {
    const own = new Set<string>();
    const subnets: Array<[string, number, 'ipv4' | 'ipv6']> = [];
    if (this.egressAddress != null) own.add(this.egressAddress);
    for (const list of Object.values(this.interfaces())) {
      for (const iface of list ?? []) {
        const address = iface.address.split('%')[0] as string;
        own.add(address);
        if (iface.internal || forbiddenReason(address) != null) continue;
        const prefix = Number(iface.cidr?.split('/')[1] ?? (iface.family === 'IPv4' ? 32 : 128));
        if (iface.family === 'IPv4') subnets.push([address, prefix, 'ipv4']);
        else subnets.push([address, Math.min(prefix, IPV6_HOUSEHOLD_PREFIX), 'ipv6']);
      }
    }
    const key = `${[...own].sort().join(',')}|${subnets.map((s) => s.join('/')).join(',')}`;
    if (key === this.networkKey) return false;
    const ownList = new BlockList();
    for (const address of own) if (isIP(address) !== 0) ownList.addAddress(address, familyOf(address));
    const networks = new BlockList();
    for (const [address, prefix, family] of subnets) networks.addSubnet(address, prefix, family);
    this.own = ownList;
    this.networks = networks;
    this.hasNetworks = subnets.length > 0;
    this.publicIpv6 = subnets.some(([, , family]) => family === 'ipv6');
    this.networkKey = key;
    return true;
  }

  /** Whether this machine has a public IPv6 address, and so can reach IPv6 websites. */
  get hasPublicIpv6(): boolean {
    return this.publicIpv6;
  }

  /**
   * A peer saw this relay at `address`. Only a public address counts (the private ones are refused
   * anyway); returns true if it was not known yet.
   */
  observe(address: string): boolean {
    if (isIP(address) === 0 || forbiddenReason(address) != null) return false;
    const known = this.observed.delete(address);
    this.observed.set(address, Date.now());
    if (known) return false;
    while (this.observed.size > MAX_OBSERVED_ADDRESSES)
      this.observed.delete(this.observed.keys().next().value as string);
    const list = new BlockList();
    for (const seen of this.observed.keys()) list.addAddress(seen, familyOf(seen));
    this.observedList = list;
    return true;
  }

  /** The public addresses peers have seen this relay at, oldest first. */
  observedAddresses(): string[] {
    return [...this.observed.keys()];
  }

  /** Why a tunnel may not go to `address` (a public address), or undefined if it is not the household's. */
  reason(address: string): string | undefined {
    const embedded = isIP(address) === 6 ? embeddedIpv4(address) : undefined;
    for (const candidate of embedded == null ? [address] : [address, embedded.address]) {
      const family = familyOf(candidate);
      if (this.own.check(candidate, family)) return `${address} is this relay's own address`;
      if (this.observed.size > 0 && this.observedList.check(candidate, family))
        return `${address} is this household's public address`;
      if (this.hasNetworks && this.networks.check(candidate, family))
        return `${address} is on this household's network`;
    }
    return undefined;
  }
}

function familyOf(address: string): 'ipv4' | 'ipv6' {
  return isIP(address) === 6 ? 'ipv6' : 'ipv4';
}
