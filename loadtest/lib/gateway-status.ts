import { fetch } from 'undici';

/** The relays a gateway's admin `/status` lists. */
export interface GatewayStatus {
  relays: Array<{ peerId: string; routable: boolean; country: string | null }>;
}

/**
 * A gateway's `/status`, asked up to three times: on this busy machine a kept-alive connection can
 * be closed by the gateway just as it is reused ("other side closed"), which says nothing about it.
 */
export async function gatewayStatus(adminUrl: string): Promise<GatewayStatus> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await (await fetch(`${adminUrl}/status`)).json()) as GatewayStatus;
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}
