import { dhtDropsAddress } from '@meadow/discovery';
import type { Logger } from 'pino';
import { invalidConfig } from './config.ts';

const PRIVATE =
  'is a private address (loopback, LAN or a documentation range), which the DHT drops: for a network on one machine or a LAN set network.allowPrivateAddresses: true';

/**
 * Stops a start whose bootstrap or announce addresses the DHT would drop (private ones, without
 * `network.allowPrivateAddresses`), naming each key: such a node starts, then finds no DHT server
 * and retries for ever, or is listed where no peer can dial it.
 */
export function checkBootstrapAddresses(
  configPath: string,
  network: { bootstrap: string[]; announce?: string[]; allowPrivateAddresses: boolean },
): void {
  if (network.allowPrivateAddresses) return;
  const issues = [
    ...privateAddresses('network.bootstrap', network.bootstrap, PRIVATE),
    ...privateAddresses(
      'network.announce',
      network.announce ?? [],
      `${PRIVATE}; otherwise name the address or /dns4 name the internet reaches this node at`,
    ),
  ];
  if (issues.length > 0) throw invalidConfig(configPath, issues);
}

function privateAddresses(key: string, addresses: string[], message: string) {
  return addresses.flatMap((address, i) => (dhtDropsAddress(address) ? [{ key: `${key}.${i}`, message }] : []));
}

/**
 * A node that others must dial (a gateway, a bootstrap node) and has no public address to offer:
 * the DHT drops every one it has, so peers find its record and cannot dial it. Said once at start,
 * where the operator looks, with the key that fixes it.
 */
export function warnWithoutPublicAddress(
  log: Logger,
  multiaddrs: string[],
  network: { allowPrivateAddresses: boolean },
  who: string,
): void {
  if (network.allowPrivateAddresses || !multiaddrs.every(dhtDropsAddress)) return;
  log.warn(
    { multiaddrs, key: 'network.announce' },
    `${who} has no public address to announce, and the DHT drops private ones: peers find it and cannot dial it. Set network.announce to the address and port the internet reaches (forwarded to network.listen behind NAT)`,
  );
}
