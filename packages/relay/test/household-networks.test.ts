import { mkdtemp, rm } from 'node:fs/promises';
import type { NetworkInterfaceInfo } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IdentifyResult } from '@libp2p/interface';
import { createDiscovery, type DiscoveryHandle, ipOfMultiaddr } from '@meadow/discovery';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_EXIT_POLICY,
  EgressGuard,
  ExitPolicy,
  egressSelfTest,
  HouseholdNetworks,
  MAX_OBSERVED_ADDRESSES,
} from '../src/index.ts';

function iface(cidr: string, internal = false): NetworkInterfaceInfo {
  const address = cidr.split('/')[0] as string;
  const v6 = address.includes(':');
  return {
    address,
    cidr,
    netmask: '',
    mac: '00:00:00:00:00:00',
    internal,
    ...(v6 ? { family: 'IPv6' as const, scopeid: 0 } : { family: 'IPv4' as const }),
  };
}

/** A household with native IPv6 on a /64 and a NATed private IPv4 LAN, as most homes are. */
const HOME = {
  lo: [iface('127.0.0.1/8', true), iface('::1/128', true)],
  eth0: [
    iface('192.168.1.23/24'),
    iface('2a02:8071:5e80:9a00:1c2d:3e4f:5a6b:7c8d/64'),
    iface('fe80::1c2d:3e4f:5a6b:7c8d/64'),
  ],
};

describe('the household networks a relay refuses', () => {
  it('refuses every address of the IPv6 home network, the router among them, and the /48 around it', () => {
    const household = new HouseholdNetworks({ interfaces: () => HOME });
    expect(household.reason('2a02:8071:5e80:9a00:1c2d:3e4f:5a6b:7c8d')).toMatch(/this relay's own address/);
    expect(household.reason('2a02:8071:5e80:9a00::1')).toMatch(/on this household's network/);
    expect(household.reason('2a02:8071:5e80:9a00:aaaa:bbbb:cccc:dddd')).toMatch(/on this household's network/);
    // Another /64 of the same delegated /56 (a second router or a guest network), and of a /48
    // (a router that numbers its guest network at the top of the prefix).
    expect(household.reason('2a02:8071:5e80:9aff::1')).toMatch(/on this household's network/);
    expect(household.reason('2a02:8071:5e80:ff00::1')).toMatch(/on this household's network/);
    expect(household.reason('2a02:8071:5e81::1')).toBeUndefined();
    expect(household.reason('2606:4700:4700::1111')).toBeUndefined();
  });

  it("adds no subnet for a private interface (the forbidden ranges cover it) and refuses a public IPv4 LAN's neighbours", () => {
    const household = new HouseholdNetworks({
      interfaces: () => ({ eth0: [iface('192.168.1.23/24')], eth1: [iface('81.2.69.140/29')] }),
    });
    expect(household.reason('192.168.1.23')).toMatch(/own address/);
    expect(household.reason('192.168.1.5')).toBeUndefined();
    expect(household.reason('81.2.69.142')).toMatch(/on this household's network/);
    expect(household.reason('::ffff:81.2.69.142')).toMatch(/on this household's network/);
    expect(household.reason('81.2.69.150')).toBeUndefined();
    // No public IPv6 address: the relay's resolver asks for A records only.
    expect(household.hasPublicIpv6).toBe(false);
  });

  it('refuses the public address peers see it at, in every IPv6 form that reaches it, and only public ones count', () => {
    const household = new HouseholdNetworks({ interfaces: () => HOME });
    expect(household.observe('127.0.0.1')).toBe(false);
    expect(household.observe('192.168.1.23')).toBe(false);
    expect(household.observe('not an address')).toBe(false);
    expect(household.reason('81.2.69.142')).toBeUndefined();
    expect(household.observe('81.2.69.142')).toBe(true);
    expect(household.observe('81.2.69.142')).toBe(false);
    expect(household.reason('81.2.69.142')).toBe("81.2.69.142 is this household's public address");
    expect(household.reason('::ffff:81.2.69.142')).toMatch(/public address/);
    expect(household.reason('64:ff9b::5102:458e')).toMatch(/public address/);
    expect(household.reason('2002:5102:458e::1')).toMatch(/public address/);
    expect(household.reason('81.2.69.143')).toBeUndefined();
  });

  it(`keeps only the ${MAX_OBSERVED_ADDRESSES} addresses reported last, so a lying peer cannot block the internet`, () => {
    const household = new HouseholdNetworks({ interfaces: () => HOME });
    household.observe('81.2.69.1');
    for (let i = 2; i <= MAX_OBSERVED_ADDRESSES; i++) household.observe(`81.2.69.${i}`);
    household.observe('81.2.69.1'); // seen again: the newest now
    household.observe('81.2.70.1');
    expect(household.observedAddresses()).toHaveLength(MAX_OBSERVED_ADDRESSES);
    expect(household.reason('81.2.69.1')).toMatch(/public address/);
    expect(household.reason('81.2.69.2')).toBeUndefined();
    expect(household.reason('81.2.70.1')).toMatch(/public address/);
  });

  it('follows the interfaces when they change, and says when they did', () => {
    let interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = HOME;
    const household = new HouseholdNetworks({ interfaces: () => interfaces });
    expect(household.refresh()).toBe(false);
    interfaces = { ...HOME, eth0: [iface('2a02:8071:1111:2200::5/64')] };
    expect(household.refresh()).toBe(true);
    expect(household.reason('2a02:8071:1111:2200::1')).toMatch(/on this household's network/);
    expect(household.reason('2a02:8071:5e80:9a00::1')).toBeUndefined();
    expect(household.hasPublicIpv6).toBe(true);
    interfaces = { eth0: [iface('192.168.1.23/24'), iface('fe80::1/64')] };
    household.refresh();
    // Link-local only: IPv6 websites are out of reach, so AAAA records are not asked for.
    expect(household.hasPublicIpv6).toBe(false);
  });

  it('is what the egress guard refuses, after the forbidden ranges and before the exit policy', () => {
    const household = new HouseholdNetworks({ interfaces: () => HOME, egressAddress: '81.2.69.99' });
    household.observe('81.2.69.142');
    const guard = new EgressGuard({
      policy: new ExitPolicy(DEFAULT_EXIT_POLICY),
      household,
      ownPorts: new Set(),
      allowExactTargets: new Set(),
    });
    expect(guard.refusal('81.2.69.99', 80)).toMatch(/own address/);
    expect(guard.refusal('81.2.69.142', 80)).toMatch(/public address/);
    expect(guard.refusal('2a02:8071:5e80:9a00::1', 443)).toMatch(/household's network/);
    expect(guard.refusal('192.168.1.1', 80)).toMatch(/private/);
    expect(guard.refusal('93.184.216.34', 443)).toBeUndefined();
  });
});

describe('the egress self-test of `meadow relay doctor`', () => {
  it("probes the IPv6 home network's router and finds it refused with every other probe", async () => {
    const probes = await egressSelfTest({
      exitPolicy: DEFAULT_EXIT_POLICY,
      allowExactTargets: [],
      interfaces: () => HOME,
    });
    expect(probes).toContainEqual({
      target: '[2a02:8071:5e80:9a00::1]:80',
      why: 'the router of the IPv6 home network',
      refused: true,
      reason: "[2a02:8071:5e80:9a00::1]:80 refused by the relay: 2a02:8071:5e80:9a00::1 is on this household's network",
    });
    expect(probes.filter((p) => !p.refused)).toEqual([]);
  });

  it('probes the public address peers see, the router’s, and finds it refused; a private one adds nothing', async () => {
    const probes = await egressSelfTest({
      exitPolicy: DEFAULT_EXIT_POLICY,
      allowExactTargets: [],
      interfaces: () => HOME,
      publicAddresses: ['81.2.69.142', '127.0.0.1'],
    });
    expect(probes.filter((p) => p.why.startsWith("this household's public address"))).toEqual([
      {
        target: '81.2.69.142:80',
        why: "this household's public address, the router's (as peers see it)",
        refused: true,
        reason: "81.2.69.142:80 refused by the relay: 81.2.69.142 is this household's public address",
      },
    ]);
  });
});

describe("a peer's observed address, as libp2p reports it", () => {
  const dir = mkdtemp(join(tmpdir(), 'meadow-observed-'));
  const handles: DiscoveryHandle[] = [];
  afterAll(async () => {
    await Promise.all(handles.map((h) => h.stop()));
    await rm(await dir, { recursive: true, force: true });
  });

  it('arrives with the bootstrap peer’s identify, after a listener set right after start, as the relay sets it', async () => {
    const start = (name: string, listen: string[], bootstrap: string[]) =>
      createDiscovery({
        identityPath: join(tmpdirSync, `${name}.key`),
        listen,
        bootstrap,
        dhtMode: listen.length > 0 ? 'server' : 'client',
        allowPrivateAddresses: true,
        agentVersion: 'meadow-test',
      });
    const tmpdirSync = await dir;
    const bootstrap = await start('bootstrap', ['/ip4/127.0.0.1/tcp/0'], []);
    handles.push(bootstrap);
    const relay = await start('relay', [], [bootstrap.node.getMultiaddrs()[0]?.toString() as string]);
    handles.push(relay);
    const identified = await new Promise<IdentifyResult>((resolve) =>
      relay.node.addEventListener('peer:identify', (evt) => resolve(evt.detail), { once: true }),
    );
    expect(identified.peerId.equals(bootstrap.node.peerId)).toBe(true);
    expect(identified.observedAddr).toBeDefined();
    const address = ipOfMultiaddr(identified.observedAddr as NonNullable<IdentifyResult['observedAddr']>);
    expect(address).toBe('127.0.0.1');
    // On loopback the address is not public, so it never counts as the household's.
    expect(new HouseholdNetworks({ interfaces: () => HOME }).observe(address as string)).toBe(false);
  });
});
