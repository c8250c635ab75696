import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Connection, Stream } from '@libp2p/interface';
import { DIAL_BACK_PROTOCOL } from '@meadow/protocol';
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr';
import type { MeadowNode } from './node.ts';
import { ipOfMultiaddr, withoutPeerId } from './private-address.ts';
import { readToEnd } from './read-to-end.ts';

/**
 * Dial-back (DIAL_BACK_PROTOCOL), served by bootstrap nodes: a node asks to be dialled at the
 * addresses it announces, from outside its own network, and hears what answered at each. This is
 * how `meadow gateway doctor` tells a firewall or a missing port forward from a gateway that is
 * down, which a dial from the gateway's own machine cannot.
 *
 * The server dials only the address the request came from (the IP it sees, at ports the requester
 * names, or a DNS name that resolves to that IP), so nobody can point a bootstrap node at another
 * host. One request per connection at a time, a few at once in all, eight addresses each.
 */

export const MAX_DIAL_BACK_ADDRESSES = 8;
const MAX_REQUEST_BYTES = 8 * 1024;
const MAX_ANSWER_BYTES = 16 * 1024;
const DIAL_TIMEOUT_MS = 10_000;
/** Long enough for the dials of a request, made at once, to time out. */
export const DIAL_BACK_ANSWER_TIMEOUT_MS = DIAL_TIMEOUT_MS + 5_000;

export interface DialBackResult {
  address: string;
  /** The peer id whose Noise handshake answered there. */
  peer?: string;
  ms?: number;
  /** Why nothing (or nothing libp2p could talk to) answered, or why the address was not dialled. */
  error?: string;
}

export type DialBackAnswer = { observed: string; results: DialBackResult[] } | { refused: string };

export type DialBackOutcome = 'answered' | 'busy' | 'malformed';

/** Registers the dial-back service on `node`; `onRequest` counts what each request came to. */
export async function serveDialBack(
  node: MeadowNode,
  options: { maxConcurrent?: number; onRequest?: (outcome: DialBackOutcome) => void } = {},
): Promise<void> {
  const maxConcurrent = options.maxConcurrent ?? 4;
  let running = 0;
  await node.handle(
    DIAL_BACK_PROTOCOL,
    async (stream, connection) => {
      let answer: DialBackAnswer;
      let outcome: DialBackOutcome;
      try {
        const body = await readToEnd(stream, MAX_REQUEST_BYTES, AbortSignal.timeout(5_000));
        const addresses = parseRequest(body);
        if (typeof addresses === 'string') {
          answer = { refused: addresses };
          outcome = 'malformed';
        } else if (running >= maxConcurrent) {
          answer = { refused: 'busy: other dial-backs are running; ask again in a few seconds' };
          outcome = 'busy';
        } else {
          running++;
          try {
            answer = await dialBack(node, connection, addresses);
          } finally {
            running--;
          }
          outcome = 'answered';
        }
        options.onRequest?.(outcome);
        stream.send(new TextEncoder().encode(JSON.stringify(answer)));
        await stream.close().catch(() => {});
      } catch (err) {
        stream.abort(err as Error);
      }
    },
    { maxInboundStreams: 1 },
  );
}

/** The addresses asked for, or why the request is refused. */
function parseRequest(body: Uint8Array): string[] | string {
  let request: { addresses?: unknown };
  try {
    request = JSON.parse(new TextDecoder().decode(body)) as typeof request;
  } catch {
    return 'the request is not JSON';
  }
  const addresses = request?.addresses;
  if (!Array.isArray(addresses) || addresses.some((a) => typeof a !== 'string'))
    return 'the request needs "addresses", a list of multiaddrs';
  if (addresses.length === 0 || addresses.length > MAX_DIAL_BACK_ADDRESSES)
    return `ask for 1 to ${MAX_DIAL_BACK_ADDRESSES} addresses`;
  return addresses as string[];
}

async function dialBack(node: MeadowNode, connection: Connection, addresses: string[]): Promise<DialBackAnswer> {
  const observed = unmapped(ipOfMultiaddr(connection.remoteAddr) ?? '');
  if (isIP(observed) === 0) return { refused: 'the request came over a connection without an IP address' };
  return { observed, results: await Promise.all(addresses.map((address) => dialOne(node, address, observed))) };
}

async function dialOne(node: MeadowNode, address: string, observed: string): Promise<DialBackResult> {
  let target: Multiaddr;
  try {
    target = await onlyAt(multiaddr(address), observed);
  } catch (err) {
    return { address, error: (err as Error).message };
  }
  // libp2p will not dial its own node; the requester still learns who answers there.
  const own = new Set(node.getMultiaddrs().map((a) => withoutPeerId(a).toString()));
  if (own.has(target.toString())) return { address, peer: node.peerId.toString(), ms: 0 };
  const started = performance.now();
  try {
    // A new connection, without the peer id: with it, libp2p would also try every other address it knows.
    const dialled = await node.dial(target, { force: true, signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) });
    const ms = Math.round(performance.now() - started);
    const peer = dialled.remotePeer.toString();
    await dialled.close().catch(() => {});
    return { address, peer, ms };
  } catch (err) {
    return { address, error: dialFailure(err, DIAL_TIMEOUT_MS) };
  }
}

/** `address` as an IP multiaddr at `observed`, or an error saying why it is not dialled. */
async function onlyAt(address: Multiaddr, observed: string): Promise<Multiaddr> {
  const components = address.getComponents();
  const [host, transport] = components;
  if (host == null || transport?.name !== 'tcp' || components.slice(2).some((c) => c.name !== 'p2p'))
    throw new Error('only /ip4, /ip6 or /dns addresses over /tcp are dialled back');
  const port = transport.value as string;
  if (host.name === 'ip4' || host.name === 'ip6') {
    if (unmapped(host.value as string) !== observed)
      throw new Error(`not dialled: only the address the request came from (${observed}) is`);
  } else if (host.name === 'dns' || host.name === 'dns4' || host.name === 'dns6') {
    const family = host.name === 'dns4' ? 4 : host.name === 'dns6' ? 6 : 0;
    const found = await lookup(host.value as string, { all: true, family }).catch(() => []);
    if (!found.some((a) => unmapped(a.address) === observed))
      throw new Error(
        found.length === 0
          ? `${host.value} does not resolve here`
          : `not dialled: ${host.value} resolves to ${found.map((a) => a.address).join(', ')}, not to the address the request came from (${observed})`,
      );
  } else throw new Error('only /ip4, /ip6 or /dns addresses over /tcp are dialled back');
  return multiaddr(`/${isIP(observed) === 6 ? 'ip6' : 'ip4'}/${observed}/tcp/${port}`);
}

function unmapped(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/** The reason under libp2p's dial error: a refused port, a timeout, or what the innermost error says. */
export function dialFailure(err: unknown, timeoutMs: number): string {
  let e = err as { name?: string; message?: string; code?: string; cause?: unknown; errors?: unknown[] };
  let timedOut = false;
  for (;;) {
    // The signal's reason is a TimeoutError; what libp2p wraps around it may be a plain error.
    timedOut ||= e.name === 'TimeoutError' || e.name === 'AbortError' || /aborted due to timeout/.test(e.message ?? '');
    const inner = (e.errors?.[0] ?? e.cause) as typeof e | undefined;
    if (inner == null) break;
    e = inner;
  }
  if (e.code === 'ECONNREFUSED') return 'connection refused (nothing listens there)';
  if (timedOut) return `no answer within ${timeoutMs / 1000} s`;
  return e.message ?? String(err);
}

/**
 * Asks the bootstrap node at `bootstrap` (a multiaddr with its peer id) to dial `addresses` back.
 * The answer is checked for shape, not trusted further: it only ever informs a report.
 */
export async function askDialBack(
  node: MeadowNode,
  bootstrap: string,
  addresses: string[],
  signal: AbortSignal,
): Promise<DialBackAnswer> {
  const stream: Stream = await node.dialProtocol(multiaddr(bootstrap), DIAL_BACK_PROTOCOL, { signal });
  let body: Uint8Array;
  try {
    stream.send(new TextEncoder().encode(JSON.stringify({ addresses: addresses.slice(0, MAX_DIAL_BACK_ADDRESSES) })));
    // Half-closes: the request is complete. The answer is read whole before our side is gone.
    const closing = stream.close({ signal }).catch(() => {});
    body = await readToEnd(stream, MAX_ANSWER_BYTES, signal);
    await closing;
  } catch (err) {
    stream.abort(err as Error);
    throw err;
  }
  const answer = JSON.parse(new TextDecoder().decode(body)) as Partial<{
    observed: unknown;
    results: unknown;
    refused: unknown;
  }>;
  if (typeof answer.refused === 'string') return { refused: answer.refused.slice(0, 500) };
  if (typeof answer.observed !== 'string' || !Array.isArray(answer.results))
    throw new Error('the dial-back answer has neither results nor a reason');
  const results = (answer.results as Array<Record<string, unknown>>).slice(0, MAX_DIAL_BACK_ADDRESSES).map((r) => ({
    address: String(r?.address ?? ''),
    ...(typeof r?.peer === 'string' ? { peer: r.peer } : {}),
    ...(typeof r?.ms === 'number' ? { ms: r.ms } : {}),
    ...(typeof r?.error === 'string' ? { error: r.error.slice(0, 500) } : {}),
  }));
  return { observed: answer.observed, results };
}
