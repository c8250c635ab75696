import { mkdtemp, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalNetwork, type LocalRelay, startLocalNetwork } from '@meadow/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl, getJson, httpConnect, waitFor } from './harness.ts';

// A session's relay that is full is not a relay that left: the session must keep its exit.
// Two relays in one country, each allowed two tunnels at once.

let net: LocalNetwork;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-sticky-'));
  net = await startLocalNetwork({
    dir,
    relays: 2,
    countries: ['DE', 'DE'],
    relayConfig: { limits: { maxTunnels: 2 } },
  });
  await net.waitForRoutableRelays(2, 60_000);
});

afterAll(async () => {
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
});

const proxy = () => `http://127.0.0.1:${net.gateway.http.port}`;
/** Where a request left, as the origin saw it, and what the gateway told the crawler (`X-Meadow-Session`). */
const exitOf = async (
  username: string,
): Promise<{ status: number; exit?: string; session?: string; relay?: string; headers: string }> => {
  const res = await curl(['-x', proxy(), '--proxy-user', `${username}:${net.customer.apiKey}`, net.origin.url]);
  return {
    status: res.status,
    headers: res.headers,
    exit: res.status === 200 ? (JSON.parse(res.body) as { youAre: string }).youAre : undefined,
    session: /^X-Meadow-Session: (\w+)\r$/m.exec(res.headers)?.[1],
    relay: /^X-Meadow-Relay: (\w+)\r$/m.exec(res.headers)?.[1],
  };
};

/** Fills `relay` with held-open tunnels of the session (CONNECTs to the origin that send nothing). */
async function fill(session: string): Promise<Socket[]> {
  const creds = { username: `${net.customer.name}-country-de-session-${session}`, password: net.customer.apiKey };
  const authority = `${net.origin.host}:${net.origin.port}`;
  const held = [
    await httpConnect(net.gateway.http, creds, authority),
    await httpConnect(net.gateway.http, creds, authority),
  ];
  for (const socket of held) socket.on('error', () => {});
  return held;
}

/** meadow_gateway_session_tunnels_total by outcome, from the gateway's /metrics. */
async function sessionOutcomes(): Promise<Record<string, number>> {
  const text = await (await fetch(`${net.gateway.adminUrl}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const m of text.matchAll(/^meadow_gateway_session_tunnels_total\{outcome="(\w+)"\} (\d+)$/gm))
    counts[m[1] as string] = Number(m[2]);
  return counts;
}

async function activeTunnels(relay: LocalRelay): Promise<number> {
  return (await getJson<{ activeTunnels: number }>(`${relay.statusUrl}/status`)).activeTunnels;
}

describe('sticky sessions on a relay at its tunnel limit', () => {
  it('serve a request elsewhere while the relay is full, and keep the session on it', async () => {
    const user = `${net.customer.name}-country-de-session-s1`;
    const first = await exitOf(user);
    const home = first.exit;
    const homeRelay = net.relays.find((r) => r.egressAddress === home) as LocalRelay;
    const other = net.relays.find((r) => r !== homeRelay) as LocalRelay;
    expect(homeRelay).toBeDefined();
    // The crawler is told where each request left and what it did to the session.
    expect(first).toMatchObject({ session: 'bound', relay: homeRelay.peerId });

    const held = await fill('s1');
    expect(await activeTunnels(homeRelay)).toBe(2);
    // Full for longer than the gateway waits for a slot: this request goes out through the other relay…
    expect(await exitOf(user)).toMatchObject({ exit: other.egressAddress, session: 'elsewhere', relay: other.peerId });
    // …and a strict session answers 503 instead of changing its exit.
    const strict = await exitOf(`${user}-strict`);
    expect(strict.status).toBe(503);
    expect(strict.headers).toMatch(/the relay of session 's1' stayed at its tunnel limit \(strict session\)/);

    for (const socket of held) socket.destroy();
    await waitFor(async () => (await activeTunnels(homeRelay)) === 0, 5_000, 'the held tunnels to close');
    // The session did not move: its next request leaves from its own relay again.
    expect(await exitOf(user)).toMatchObject({ exit: home, session: 'kept', relay: homeRelay.peerId });
    // Operators see the same in the gateway's metrics: one tunnel bound the session, three kept it
    // (the two held ones and the last), one went elsewhere while its relay was full, one strict
    // request was refused, and nothing moved.
    expect(await sessionOutcomes()).toEqual({ bound: 1, kept: 3, elsewhere: 1, refused: 1 });
  });

  it('wait for a slot on the session relay when one frees within the wait', async () => {
    const user = `${net.customer.name}-country-de-session-s1`;
    const home = (await exitOf(user)).exit;
    const homeRelay = net.relays.find((r) => r.egressAddress === home) as LocalRelay;
    const held = await fill('s1');
    expect(await activeTunnels(homeRelay)).toBe(2);
    const request = exitOf(user);
    setTimeout(() => held[0]?.destroy(), 100);
    expect(await request).toMatchObject({ exit: home, session: 'kept_after_wait' });
    for (const socket of held) socket.destroy();
  });
});
