import type { TunnelExit } from './tunnel-service.ts';

/**
 * The response headers that tell a crawler where its request left the network: the relay's peer id,
 * its country, and what the request did to its sticky session (`bound`, `kept`, `kept_after_wait`,
 * `moved`, `elsewhere`). A session that moves is never silent: its crawler sees `moved` on the
 * request that moved it. Sent on a CONNECT's `200` and on every absolute-URI response.
 */
export function exitHeaderPairs(exit: TunnelExit): string[] {
  const pairs = ['X-Meadow-Relay', exit.relay, 'X-Meadow-Country', exit.country];
  if (exit.session != null) pairs.push('X-Meadow-Session', exit.session);
  return pairs;
}

/** The same as header lines, each ending in CRLF, for a response written by hand. */
export function exitHeaderLines(exit: TunnelExit): string {
  const lines = `X-Meadow-Relay: ${exit.relay}\r\nX-Meadow-Country: ${exit.country}\r\n`;
  return exit.session == null ? lines : `${lines}X-Meadow-Session: ${exit.session}\r\n`;
}

/**
 * Headers of ours that an origin's response must not carry into the crawler's view: a web site
 * could otherwise claim another exit, or fake a proxy error.
 */
export function isMeadowHeader(lowerCaseName: string): boolean {
  return lowerCaseName.startsWith('x-meadow-');
}
