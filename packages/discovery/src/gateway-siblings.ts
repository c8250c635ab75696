import type { PeerId, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { GATEWAY_SIBLINGS_PROTOCOL, MAX_GATEWAY_SIBLINGS } from '@meadow/protocol';
import type { MeadowNode } from './node.ts';
import { readToEnd } from './read-to-end.ts';

/** A list of peer ids in JSON: far less than this. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * A gateway's answer on GATEWAY_SIBLINGS_PROTOCOL: the other gateways that share its sticky
 * sessions, as JSON `{"siblings": ["12D3Koo…", …]}`, then it closes the stream.
 */
export async function answerSiblings(stream: Stream, siblings: () => Promise<string[]>): Promise<void> {
  try {
    const list = (await siblings()).slice(0, MAX_GATEWAY_SIBLINGS);
    stream.send(new TextEncoder().encode(JSON.stringify({ siblings: list })));
    void stream.close().catch(() => {});
  } catch (err) {
    stream.abort(err as Error);
  }
}

/**
 * Asks `gateway` for its siblings. Only well-formed peer ids other than the gateway's own are
 * kept, at most MAX_GATEWAY_SIBLINGS: a relay links to them only if the DHT also lists them as
 * gateways, so a gateway cannot send relays anywhere else.
 */
export async function askSiblings(node: MeadowNode, gateway: PeerId, signal: AbortSignal): Promise<string[]> {
  const stream = await node.dialProtocol(gateway, GATEWAY_SIBLINGS_PROTOCOL, { signal });
  let body: Uint8Array;
  // The whole answer before closing our side: the gateway answers and closes at once (see readToEnd).
  try {
    body = await readToEnd(stream, MAX_ANSWER_BYTES, signal);
  } finally {
    await stream.close().catch(() => {});
  }
  const answer = JSON.parse(new TextDecoder().decode(body)) as { siblings?: unknown };
  if (!Array.isArray(answer.siblings)) throw new Error('answer without a siblings list');
  const own = gateway.toString();
  const kept = new Set<string>();
  for (const id of answer.siblings.slice(0, MAX_GATEWAY_SIBLINGS)) {
    if (typeof id !== 'string' || id === own) continue;
    try {
      kept.add(peerIdFromString(id).toString());
    } catch {} // not a peer id: ignored
  }
  return [...kept];
}
