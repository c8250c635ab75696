import type { RelayDescriptor } from '@meadow/discovery';
import type { TunnelMux } from '@meadow/protocol';
import { describe, expect, it, vi } from 'vitest';
import { type PooledRelay, RelayPool } from '../src/relay-pool.ts';
import { StickySessions } from '../src/sessions.ts';

function fakeLink(active = 0): TunnelMux {
  // The pool only reads these two fields of a link.
  return { isClosed: false, activeTunnels: active } as unknown as TunnelMux;
}

function descriptor(country: string, overrides: Partial<RelayDescriptor> = {}): RelayDescriptor {
  const now = Date.now();
  return {
    peerId: 'x',
    addrs: [],
    country,
    capacityBytesPerSecond: 1,
    state: 'serving',
    remainingBytes: null,
    maxTunnels: 10,
    rejectedPorts: [25],
    softwareVersion: '0',
    payoutAddress: 'p',
    issuedAt: now,
    expiresAt: now + 60_000,
    ...overrides,
  };
}

/** Three relays on one fast network, 1–3 ms apart: none of them is strictly the one to use. */
function nearEqualPool(): RelayPool {
  const pool = new RelayPool();
  for (const [name, ms] of [
    ['a', 1],
    ['b', 2],
    ['c', 3],
  ] as const) {
    const relay = pool.addLink(name, fakeLink());
    relay.descriptor = descriptor('DE');
    for (let i = 0; i < 10; i++) relay.record(true, ms);
  }
  return pool;
}

describe('RelayPool', () => {
  it('routes only through linked relays with a valid serving descriptor for the country and port', () => {
    const pool = new RelayPool();
    pool.addLink('undescribed', fakeLink());
    pool.addLink('de', fakeLink()).descriptor = descriptor('DE');
    pool.addLink('fr', fakeLink()).descriptor = descriptor('FR');
    pool.addLink('paused', fakeLink()).descriptor = descriptor('DE', { state: 'paused' });
    pool.addLink('expired', fakeLink()).descriptor = descriptor('DE', { expiresAt: Date.now() - 1 });
    pool.addLink('empty', fakeLink()).descriptor = descriptor('DE', { remainingBytes: 0 });
    expect(pool.routable('DE', 443).map((r) => r.peerId)).toEqual(['de']);
    expect(pool.routable('DE', 25)).toEqual([]);
    expect(pool.choose({ country: 'FR', port: 80, exclude: new Set() })?.peerId).toBe('fr');
    expect(pool.choose({ country: 'FR', port: 80, exclude: new Set(['fr']) })).toBeUndefined();
    expect(pool.countByCountry()).toEqual({ DE: 1, FR: 1 });
  });

  it('prefers the relay with the better measured quality when two are compared', () => {
    const pool = new RelayPool(() => 0);
    const good = pool.addLink('good', fakeLink());
    good.descriptor = descriptor('DE');
    const bad = pool.addLink('bad', fakeLink());
    bad.descriptor = descriptor('DE');
    for (let i = 0; i < 10; i++) bad.record(false);
    for (let i = 0; i < 10; i++) good.record(true, 5);
    for (let i = 0; i < 20; i++) expect(pool.choose({ port: 80, exclude: new Set() })?.peerId).toBe('good');
  });

  it('says why no relay is available: each relay of the country by its first reason', () => {
    const pool = new RelayPool();
    expect(pool.whyNone({ country: 'DE', port: 443, exclude: new Set() })).toEqual({
      onlyPort: false,
      message: 'no relay is linked to this gateway yet',
    });
    pool.addLink('fr', fakeLink()).descriptor = descriptor('FR');
    pool.addLink('de-paused', fakeLink()).descriptor = descriptor('DE', { state: 'paused' });
    pool.addLink('de-capped', fakeLink()).descriptor = descriptor('DE', { state: 'hibernating' });
    pool.addLink('de-smtp', fakeLink()).descriptor = descriptor('DE');
    expect(pool.whyNone({ country: 'JP', port: 443, exclude: new Set() }).message).toBe(
      'no relay in JP is linked to this gateway (routable relays: FR 1, DE 1)',
    );
    const de = { country: 'DE', port: 25, exclude: new Set<string>() };
    expect(pool.choose(de)).toBeUndefined();
    expect(pool.whyNone(de)).toEqual({
      onlyPort: false,
      message:
        "no relay available for port 25, all 3 relays in DE: 1 paused by the household, 1 at the household's data cap, 1 refuse port 25 (exit policy)",
    });
    // Only the exit policy stands in the way: a refusal, not an outage.
    const fr = { country: 'FR', port: 25, exclude: new Set<string>() };
    expect(pool.choose(fr)).toBeUndefined();
    expect(pool.whyNone(fr)).toEqual({
      onlyPort: true,
      message: 'port 25 is refused by the exit policy of the one relay in FR',
    });
    const leaving = new RelayPool();
    leaving.addLink('moving', fakeLink()).descriptor = descriptor('NL');
    leaving.addLink('stopping', fakeLink()).descriptor = descriptor('NL');
    (leaving.get('moving') as PooledRelay).leaving = 'moving';
    (leaving.get('stopping') as PooledRelay).leaving = 'stopping';
    expect(leaving.choose({ country: 'NL', port: 443, exclude: new Set() })).toBeUndefined();
    expect(leaving.whyNone({ country: 'NL', port: 443, exclude: new Set() }).message).toBe(
      'no relay available for port 443, all 2 relays in NL: 1 moving to another gateway, 1 stopping',
    );
    const young = new RelayPool();
    young.addLink('new', fakeLink());
    expect(young.whyNone({ port: 443, exclude: new Set() }).message).toBe(
      'no relay available for port 443, the one relay: 1 waiting for its signed descriptor',
    );
  });

  it('shares tunnels between relays whose measured quality is about the same', () => {
    const pool = nearEqualPool();
    const counts = new Map<string, number>();
    for (let i = 0; i < 3_000; i++) {
      const id = pool.choose({ port: 80, exclude: new Set() })?.peerId as string;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (const name of ['a', 'b', 'c']) expect(counts.get(name)).toBeGreaterThan(800);
  });

  it("sends a rotating crawler's consecutive tunnels through different relays when they are about as good", () => {
    const pool = nearEqualPool();
    const order: string[] = [];
    for (let i = 0; i < 300; i++) order.push(pool.choose({ port: 80, exclude: new Set() })?.peerId as string);
    for (let i = 1; i < order.length; i++) expect(order[i], `choice ${i}`).not.toBe(order[i - 1]);
    for (const name of ['a', 'b', 'c']) {
      const share = order.filter((id) => id === name).length / order.length;
      expect(share, name).toBeGreaterThan(0.25);
      expect(share, name).toBeLessThan(0.42);
    }
  });

  it('tries a relay not measured yet before a measured one that is slower', () => {
    const pool = new RelayPool();
    const old = pool.addLink('old', fakeLink());
    old.descriptor = descriptor('DE');
    for (let i = 0; i < 10; i++) old.record(true, 30);
    const fresh = pool.addLink('fresh', fakeLink());
    fresh.descriptor = descriptor('DE');
    expect(fresh.successRate).toBe(1);
    expect(fresh.connectLatencyMs).toBe(0);
    expect(pool.choose({ port: 80, exclude: new Set() })).toBe(fresh);
  });

  it("lets a relay's bad measurements fade, so it is tried again minutes later", () => {
    vi.useFakeTimers({ now: 1_000_000, toFake: ['Date'] });
    try {
      const pool = new RelayPool();
      const good = pool.addLink('good', fakeLink());
      const hourLong = { expiresAt: Date.now() + 3_600_000 };
      good.descriptor = descriptor('DE', hourLong);
      const unlucky = pool.addLink('unlucky', fakeLink());
      unlucky.descriptor = descriptor('DE', hourLong);
      for (let i = 0; i < 10; i++) unlucky.record(false);
      for (let i = 0; i < 10; i++) good.record(true, 5);
      const choices = (): Set<string> => {
        const seen = new Set<string>();
        for (let i = 0; i < 200; i++) seen.add(pool.choose({ port: 80, exclude: new Set() })?.peerId as string);
        return seen;
      };
      expect(unlucky.successRate).toBeLessThan(0.2);
      expect(choices()).toEqual(new Set(['good']));
      vi.setSystemTime(1_000_000 + 60_000);
      expect(unlucky.successRate).toBeCloseTo(1 - (1 - 0.8 ** 10) / 2, 6); // half its failures forgotten
      expect(choices()).toEqual(new Set(['good']));
      vi.setSystemTime(1_000_000 + 5 * 60_000);
      expect(unlucky.successRate).toBeGreaterThan(0.95);
      expect(choices()).toEqual(new Set(['good', 'unlucky']));
      // Measured again, it is judged on what it does now.
      unlucky.record(false);
      expect(unlucky.successRate).toBeLessThan(0.8);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('RelayPool with more relays than it scans', () => {
  const countries = ['DE', 'FR', 'US', 'BR'];
  function bigPool(size: number, random?: () => number): RelayPool {
    const pool = new RelayPool(random);
    for (let i = 0; i < size; i++)
      pool.addLink(`r${i}`, fakeLink()).descriptor = descriptor(countries[i % countries.length] as string);
    return pool;
  }

  it('draws only usable relays of the country, and spreads its choices over them', () => {
    const pool = bigPool(400);
    // Every third relay is unusable, paused or refusing the port, and three more are excluded.
    for (let i = 0; i < 400; i += 3) {
      const relay = pool.get(`r${i}`) as PooledRelay;
      relay.descriptor = descriptor(
        relay.descriptor?.country as string,
        i % 2 === 0 ? { state: 'paused' } : { rejectedPorts: [443] },
      );
    }
    const exclude = new Set(['r1', 'r5', 'r9']);
    const chosen = new Map<string, number>();
    for (let i = 0; i < 4_000; i++) {
      const relay = pool.choose({ country: 'FR', port: 443, exclude }) as PooledRelay;
      expect(relay.descriptor?.country).toBe('FR');
      expect(pool.isRoutable(relay, 443)).toBe(true);
      expect(exclude.has(relay.peerId)).toBe(false);
      chosen.set(relay.peerId, (chosen.get(relay.peerId) ?? 0) + 1);
    }
    const usable = pool.routable('FR', 443).filter((r) => !exclude.has(r.peerId));
    expect(usable.length).toBeGreaterThan(50);
    expect(chosen.size).toBe(usable.length);
  });

  it('finds the one usable relay among hundreds that are not', () => {
    const pool = bigPool(400);
    for (const relay of pool.all()) relay.descriptor = descriptor('DE', { state: 'paused' });
    (pool.get('r123') as PooledRelay).descriptor = descriptor('DE');
    expect(pool.choose({ country: 'DE', port: 80, exclude: new Set() })?.peerId).toBe('r123');
    expect(pool.choose({ country: 'DE', port: 80, exclude: new Set(['r123']) })).toBeUndefined();
    expect(pool.choose({ country: 'FR', port: 80, exclude: new Set() })).toBeUndefined();
  });

  it('moves a relay to the country of its new descriptor or GeoIP verdict, and forgets a removed one', () => {
    const pool = bigPool(100);
    const relay = pool.get('r0') as PooledRelay;
    relay.descriptor = descriptor('JP');
    expect(pool.choose({ country: 'JP', port: 80, exclude: new Set() })).toBe(relay);
    relay.country = 'KR'; // GeoIP disagrees with the claim: pooled under the observed country
    expect(pool.choose({ country: 'JP', port: 80, exclude: new Set() })).toBeUndefined();
    expect(pool.choose({ country: 'KR', port: 80, exclude: new Set() })).toBe(relay);
    pool.removeLink('r0', relay.mux);
    relay.descriptor = descriptor('KR'); // a fetch that finishes after the eviction
    expect(pool.choose({ country: 'KR', port: 80, exclude: new Set() })).toBeUndefined();
    expect(pool.countByCountry()).toEqual({ DE: 24, FR: 25, US: 25, BR: 25 });
  });

  it('keeps a relay that links again under one entry, with the descriptor it had', () => {
    const pool = bigPool(40);
    const again = pool.addLink('r1', fakeLink());
    expect(again.descriptor?.country).toBe('FR');
    expect(pool.all()).toHaveLength(40);
    const seen = new Set<string>();
    for (let i = 0; i < 2_000; i++)
      seen.add(pool.choose({ country: 'FR', port: 80, exclude: new Set() })?.peerId ?? '');
    expect(seen.size).toBe(10);
    expect(pool.choose({ country: 'FR', port: 80, exclude: new Set(seen) })).toBeUndefined();
  });
});

describe('StickySessions', () => {
  it('keeps a session on its relay until the TTL, counted from the first binding', () => {
    const sessions = new StickySessions();
    expect(sessions.claim('acme', 's1', 'relay-a', 1_000, undefined, 0)).toEqual({ relay: 'relay-a', made: true });
    expect(sessions.claim('acme', 's1', 'relay-a', 1_000, undefined, 900)).toEqual({ relay: 'relay-a', made: false });
    expect(sessions.get('acme', 's1', 999)).toBe('relay-a');
    expect(sessions.get('acme', 's1', 1_000)).toBeUndefined();
    expect(sessions.get('other', 's1', 10)).toBeUndefined();
  });

  it('lets the first binding win, and moves a session only off the relay a request found unusable', () => {
    const sessions = new StickySessions();
    expect(sessions.claim('acme', 's1', 'relay-a', 1_000, undefined, 0)).toEqual({ relay: 'relay-a', made: true });
    // A second request that chose another relay joins the first one's.
    expect(sessions.claim('acme', 's1', 'relay-b', 1_000, undefined, 10)).toEqual({ relay: 'relay-a', made: false });
    // Replacing a relay the session is not bound to changes nothing.
    expect(sessions.claim('acme', 's1', 'relay-b', 1_000, 'relay-c', 20)).toEqual({ relay: 'relay-a', made: false });
    // Replacing the bound relay moves the session, with a new TTL.
    expect(sessions.claim('acme', 's1', 'relay-b', 1_000, 'relay-a', 30)).toEqual({ relay: 'relay-b', made: true });
    expect(sessions.get('acme', 's1', 1_029)).toBe('relay-b');
    // Released by a request whose tunnel failed there: the next request binds afresh.
    sessions.release('acme', 's1', 'relay-b', 40);
    expect(sessions.get('acme', 's1', 41)).toBeUndefined();
    expect(sessions.claim('acme', 's1', 'relay-c', 1_000, undefined, 50)).toEqual({ relay: 'relay-c', made: true });
    // Expired: anyone may bind it.
    expect(sessions.claim('acme', 's1', 'relay-d', 1_000, undefined, 1_050)).toEqual({ relay: 'relay-d', made: true });
  });
});
