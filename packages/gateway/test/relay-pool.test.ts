import type { RelayDescriptor } from '@meadow/discovery';
import type { TunnelMux } from '@meadow/protocol';
import { describe, expect, it } from 'vitest';
import { RelayPool } from '../src/relay-pool.ts';
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
    for (let i = 0; i < 10; i++) pool.recordResult(bad, false);
    for (let i = 0; i < 10; i++) pool.recordResult(good, true, 5);
    for (let i = 0; i < 20; i++) expect(pool.choose({ port: 80, exclude: new Set() })?.peerId).toBe('good');
  });
});

describe('StickySessions', () => {
  it('keeps a session on its relay until the TTL, counted from the first binding', () => {
    const sessions = new StickySessions();
    sessions.bind('acme', 's1', 'relay-a', 1_000, 0);
    sessions.bind('acme', 's1', 'relay-a', 1_000, 900);
    expect(sessions.get('acme', 's1', 999)).toBe('relay-a');
    expect(sessions.get('acme', 's1', 1_000)).toBeUndefined();
    expect(sessions.get('other', 's1', 10)).toBeUndefined();
  });
});
