import { BlockList, isIP } from 'node:net';
import { clientNetworkProblem } from '@meadow/protocol';

/**
 * The networks a customer's API key may be used from. A key copied out of a crawler's config then
 * works nowhere else: proxy providers call this an IP allowlist.
 */
export class ClientNetworks {
  readonly list: readonly string[];
  private readonly blocks = new BlockList();

  constructor(list: readonly string[]) {
    this.list = list;
    for (const entry of list) {
      const problem = clientNetworkProblem(entry);
      if (problem != null) throw new Error(problem);
      const [address = '', prefix] = entry.split('/');
      const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (prefix == null) this.blocks.addAddress(address, type);
      else this.blocks.addSubnet(address, Number(prefix), type);
    }
  }

  allows(address: string | undefined): boolean {
    if (address == null) return false;
    // A dual-stack listener reports IPv4 clients as IPv4-mapped IPv6.
    const plain = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
    return this.blocks.check(plain, isIP(plain) === 6 ? 'ipv6' : 'ipv4');
  }
}
