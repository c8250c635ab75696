import { openConnectionTo } from './connections.ts';
import type { MeadowNode } from './node.ts';

/** What a watch needs of a link (a TunnelMux): when bytes last arrived, and whether it is closed. */
export interface WatchedLink {
  readonly lastReceivedAt: number;
  readonly isClosed: boolean;
}

/**
 * Proves a silent link alive. A frozen peer (a suspended laptop, a stalled uplink, a NAT mapping
 * dropped without a reset) keeps its TCP connection open, so silence alone says nothing: once the
 * link has been silent for `silentMs`, the peer is pinged over the same connection. No reply
 * within `timeoutMs`, and still no bytes, means the path is dead: `onDead` runs, then the
 * connection is closed so the next dial starts afresh. One ping at a time; a reply counts as
 * traffic, so a healthy idle link costs one ping per `silentMs`.
 */
export class LinkWatch {
  private readonly node: MeadowNode;
  private readonly peerId: string;
  private readonly link: WatchedLink;
  private running = false;
  private answeredAt = 0;

  constructor(node: MeadowNode, peerId: string, link: WatchedLink) {
    this.node = node;
    this.peerId = peerId;
    this.link = link;
  }

  check(limits: { silentMs: number; timeoutMs: number }, onDead: (detail: string) => void, now = Date.now()): void {
    const silentSince = Math.max(this.link.lastReceivedAt, this.answeredAt);
    if (this.running || this.link.isClosed || now - silentSince < limits.silentMs) return;
    this.running = true;
    const connection = openConnectionTo(this.node, this.peerId);
    const ping =
      connection == null
        ? Promise.reject(new Error('not connected'))
        : this.node.services.ping.ping(connection.remotePeer, { signal: AbortSignal.timeout(limits.timeoutMs) });
    ping.then(
      () => {
        this.running = false;
        this.answeredAt = Date.now();
      },
      (err: Error) => {
        this.running = false;
        if (this.link.lastReceivedAt > silentSince) return; // bytes arrived meanwhile: alive
        onDead(`link silent for ${Date.now() - silentSince} ms and no ping reply (${err.message})`);
        connection?.abort(new Error('link silent, no ping reply'));
      },
    );
  }
}
