/**
 * @meadow/cli — the `meadow` command for every role, and the launcher that starts a whole
 * local network of real processes (used by `meadow demo` and the end-to-end tests).
 *
 * @example
 * ```ts
 * import { startLocalNetwork } from '@meadow/cli'
 * const net = await startLocalNetwork({ dir: '/tmp/m', relays: 3 })
 * await net.waitForRoutableRelays(3)
 * await net.stop()
 * ```
 */

export { ChildService } from './child-service.ts';
export { patternBytes } from './commands/origin.ts';
export type { GatewayConfig, RelayConfig } from './config.ts';
export { type LocalNetwork, type LocalNetworkInit, type LocalRelay, startLocalNetwork } from './local-network.ts';
export { main } from './main.ts';
export { SERVICE_ENV, SERVICE_NODE_FLAGS } from './node-flags.ts';
