/**
 * @meadow/protocol — what every Meadow role shares: error codes and their wire mappings,
 * tunnel targets, and the tunnel protocol that carries many TCP tunnels inside one
 * long-lived libp2p stream (docs/tunnel-protocol.md).
 *
 * @example
 * ```ts
 * import { TunnelMux, streamLink, bridge } from '@meadow/protocol'
 * const mux = new TunnelMux(streamLink(stream))
 * const tunnel = await mux.open({ host: 'example.com', port: 443 }, { signal: AbortSignal.timeout(10_000) })
 * await bridge(clientSocket, tunnel)
 * ```
 */

export { tokenChallenge, tokenCheck } from './access-token.ts';
export { type BridgeOptions, type BridgeResult, type ByteGate, bridge } from './bridge.ts';
export { clientNetworkProblem } from './client-network.ts';
export { countryCodeProblem, countryName } from './countries.ts';
export { Deadline } from './deadline.ts';
export {
  ERROR_CODES,
  type ErrorCode,
  isMeadowError,
  MeadowError,
  TUNNEL_ERROR_REASONS,
  type WireMapping,
} from './errors.ts';
export { formatBitRate, formatBytes, formatMicros, formatUnits, shortPeerId } from './format.ts';
export { encodeFrame, type Frame, FrameDecoder, FrameProtocolError, FrameType } from './frame.ts';
export { escapeHtml, Html, html, raw } from './html.ts';
export { type FrameLink, type LinkHandlers, socketLink, streamLink } from './link.ts';
export { LiveCounter, type LiveCounts } from './live-counter.ts';
export { addressIsLoopback, hostIsLoopback } from './loopback-host.ts';
export {
  DEFAULT_WINDOW_BYTES,
  type LinkPacer,
  NOTICE_DESCRIPTOR_CHANGED,
  NOTICE_RELAY_LEAVING,
  NOTICE_RELAY_STOPPING,
  type OpenRequest,
  TunnelMux,
  type TunnelMuxInit,
} from './mux.ts';
export { type RepeatTaskInit, repeatTask, type TaskContext, type TaskLog } from './repeat-task.ts';
export { resetSocket } from './reset-socket.ts';
export { isPostgresUrl, redactUrl, SetupError } from './setup-error.ts';
export {
  bytesToIpv6,
  decodeTarget,
  encodeTarget,
  formatHostPort,
  ipv6ToBytes,
  normalizeTarget,
  type Target,
  TargetError,
} from './target.ts';
export { TimerSet } from './timer-set.ts';
export { type ByteBudget, Tunnel, type TunnelInfo } from './tunnel.ts';

export const TUNNEL_PROTOCOL = '/meadow/tunnel/1.0.0';
/**
 * A relay asks a gateway it links to which other gateways share its sticky sessions (its siblings),
 * and links to them too, so a session's relay is at every gateway its requests reach.
 */
export const GATEWAY_SIBLINGS_PROTOCOL = '/meadow/gateway-siblings/1.0.0';
/**
 * A node asks a bootstrap node to dial it back at the addresses it announces, from outside its own
 * network (`meadow gateway doctor`'s `outside` check).
 */
export const DIAL_BACK_PROTOCOL = '/meadow/dial-back/1.0.0';
/** The most siblings a gateway names, and a relay links to, per group. */
export const MAX_GATEWAY_SIBLINGS = 16;
export const MEADOW_VERSION = '0.1.0';
