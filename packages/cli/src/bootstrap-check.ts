import { dhtDropsAddress } from '@meadow/discovery';
import { invalidConfig } from './config.ts';

/**
 * Stops a start whose bootstrap addresses the DHT would drop (private ones, without
 * `network.allowPrivateAddresses`), naming each key: such a node starts, then finds no DHT server
 * and retries for ever.
 */
export function checkBootstrapAddresses(
  configPath: string,
  network: { bootstrap: string[]; allowPrivateAddresses: boolean },
): void {
  if (network.allowPrivateAddresses) return;
  const issues = network.bootstrap.flatMap((address, i) =>
    dhtDropsAddress(address)
      ? [
          {
            key: `network.bootstrap.${i}`,
            message:
              'is a private address (loopback, LAN or a documentation range), which the DHT drops: for a network on one machine or a LAN set network.allowPrivateAddresses: true',
          },
        ]
      : [],
  );
  if (issues.length > 0) throw invalidConfig(configPath, issues);
}
