import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildService, type GatewayConfig, type LocalNetwork, startLocalNetwork } from '@meadow/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anotherGatewayConfig, configVariant, runDoctor } from './harness.ts';
import { freePort } from './services/free-port.ts';
import { createWalledHost, type WalledHost } from './services/walled-host.ts';

// A gateway on its own host, behind a firewall that lets nothing in from the internet: the
// doctor's own dial reaches it (the host reaches its own address), and only a dial from outside
// tells the operator what relays will meet. Here the bootstrap node dials back from this namespace.

let host: WalledHost;
let net: LocalNetwork;
let dir: string;
let gateway: ChildService | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-outside-'));
  host = await createWalledHost();
  net = await startLocalNetwork({ dir, relays: 0, bootstrapListen: [`/ip4/${host.internetAddress}/tcp/0`] });
}, 90_000);

afterAll(async () => {
  await gateway?.stop();
  await net?.stop();
  await host?.remove();
  if (dir != null) await rm(dir, { recursive: true, force: true });
});

const check = (report: { checks: Array<{ name: string }> }, name: string) =>
  report.checks.filter((c) => c.name === name);

describe('meadow gateway doctor, outside', () => {
  it('tells a gateway relays can reach from one behind a firewall that lets nothing in', async () => {
    const port = await freePort();
    const listen = `/ip4/${host.address}/tcp/${port}`;
    // Announced too, and not this host's: as a load balancer's address would be.
    const elsewhere = `/ip4/${host.internetAddress}/tcp/${port}`;
    const config = await anotherGatewayConfig(net.gateway.configPath, dir, 'walled', { https: undefined });
    await configVariant<GatewayConfig>(config, dir, 'walled.yaml', (c) => {
      c.network = {
        ...c.network,
        listen: [listen],
        announce: [listen, elsewhere],
        bootstrap: [net.bootstrap.multiaddr],
      };
    });
    gateway = new ChildService('walled-gateway', ['gateway', 'start', '--config', config], {
      launcher: host.launcher,
    });
    await gateway.ready;

    const open = await runDoctor('gateway', config, host.launcher);
    expect(check(open.report, 'listed'), open.text).toMatchObject([{ verdict: 'ok' }]);
    expect(check(open.report, 'reachable')).toMatchObject([{ verdict: 'warn' }]); // nothing at `elsewhere`
    expect(check(open.report, 'outside')).toEqual([
      {
        name: 'outside',
        verdict: 'warn',
        detail: expect.stringMatching(
          new RegExp(
            `^a dial from the bootstrap node \\(seeing this machine as ${host.address.replaceAll('.', '\\.')}\\) reaches it at ${listen} \\(\\d+ ms\\); not checked \\(not this machine's address\\): ${elsewhere}$`,
          ),
        ),
        fix: expect.stringContaining('only the address this machine dials out from can be dialled back'),
      },
    ]);

    await host.wall(port);
    const walled = await runDoctor('gateway', config, host.launcher);
    // From the gateway's own machine nothing has changed…
    expect(check(walled.report, 'reachable'), walled.text).toEqual(
      check(open.report, 'reachable').map((c) => ({
        ...c,
        detail: expect.stringMatching(
          new RegExp(`reaches it at ${listen} \\(\\d+ ms\\), but not at ${elsewhere}: connection refused`),
        ),
      })),
    );
    // …and from outside nothing answers.
    expect(check(walled.report, 'outside')).toEqual([
      {
        name: 'outside',
        verdict: 'fail',
        detail: `a dial from the bootstrap node (seeing this machine as ${host.address}) reaches it at no listed address: ${listen}: no answer within 10 s; not checked (not this machine's address): ${elsewhere}`,
        fix: expect.stringContaining('let TCP in to the port from the internet (firewall, security group)'),
      },
    ]);
    expect(walled.code).toBe(1);
    expect(walled.text).toMatch(/^✗ outside +a dial from the bootstrap node/m);
  }, 120_000);
});
