import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { type LocalNetwork, type LocalRelay, SERVICE_NODE_FLAGS, startLocalNetwork } from '@meadow/cli';
import { MEADOW_VERSION } from '@meadow/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildRelayRelease,
  type RelayRelease,
  type ReleaseArch,
  releaseUnit,
} from '../packages/cli/release/build-relay-release.ts';
import { curl, getJson } from './harness.ts';
import { debianFile, debianTool } from './services/debian-service.ts';

let dir: string;
let release: RelayRelease;
/** The unpacked archive, in a folder with no node_modules anywhere above it. */
let unpacked: string;
let meadow: string;

function run(
  args: string[],
  { program = meadow, path = '/usr/bin:/bin' } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // An environment as bare as a household's: nothing of this checkout's Node or pnpm in it.
    const env = { PATH: path, HOME: dir };
    execFile(program, args, { env, timeout: 60_000, cwd: dir }, (error, stdout, stderr) =>
      resolve({ code: error == null ? 0 : Number(error.code ?? 1), stdout: String(stdout), stderr: String(stderr) }),
    );
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-release-'));
  release = await buildRelayRelease(join(dir, 'build'));
  await mkdir(join(dir, 'home'));
  execFileSync('tar', ['-C', join(dir, 'home'), '-xzf', release.archive]);
  unpacked = join(dir, 'home', basename(release.dir));
  meadow = join(unpacked, 'bin', 'meadow');
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the relay release archive', () => {
  it('unpacks to a launcher, its own Node, the bundle, config, docs and licenses, with a checksum that verifies', async () => {
    const listing = execFileSync('tar', ['-tzf', release.archive], { encoding: 'utf8' }).split('\n');
    const name = basename(release.dir);
    for (const file of [
      'bin/meadow',
      'lib/node',
      'lib/meadow/meadow.js',
      'lib/meadow/htmx.min.js',
      'config/relay.example.yaml',
      'config/meadow-relay.service',
      'docs/household.md',
      'docs/relay.md',
      'LICENSE',
      'THIRD-PARTY-LICENSES.txt',
      'README.txt',
    ])
      expect(listing).toContain(`${name}/${file}`);
    expect(
      execFileSync('sha256sum', ['-c', `${basename(release.archive)}.sha256`], { cwd: join(dir, 'build') }).toString(),
    ).toMatch(/: OK$/m);
    const licenses = await readFile(join(unpacked, 'THIRD-PARTY-LICENSES.txt'), 'utf8');
    for (const bundled of ['Node.js v', 'libp2p@', '@chainsafe/libp2p-noise@', 'zod@', 'prom-client@', 'htmx.org@'])
      expect(licenses).toContain(bundled);
    // The bundle is a fraction of what a checkout installs (node_modules: about 500 MB).
    expect(release.bundleBytes).toBeLessThan(8e6);
    // Reproducible: built again elsewhere, the archive is the same, byte for byte.
    expect((await buildRelayRelease(join(dir, 'again'))).sha256).toBe(release.sha256);
    expect(await readFile(join(unpacked, 'README.txt'), 'utf8')).toMatch(/commit [0-9a-f]{40}/);
  });

  it('runs the household commands with its own Node, and says where the other roles are', async () => {
    expect(await run(['--version'])).toMatchObject({ code: 0, stdout: `${MEADOW_VERSION}\n` });
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('meadow relay init --config relay.yaml');
    const gateway = await run(['gateway', 'start', '--config', 'gateway.yaml']);
    expect(gateway.code).toBe(2);
    expect(gateway.stderr).toContain(`"gateway" is not part of the relay's release archive`);
    const config = join(dir, 'household', 'relay.yaml');
    await mkdir(join(dir, 'household'));
    const init = await run(['relay', 'init', '--config', config, '--country', 'fr', '--payout', 'acct-1']);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/Peer id: 12D3KooW/);
    const written = await readFile(config, 'utf8');
    expect(written).toMatch(/^country: FR/m);
    // The same commented template as a checkout's `meadow relay init`, kept equal to the example.
    const example = await readFile(join(unpacked, 'config', 'relay.example.yaml'), 'utf8');
    const comments = (text: string) => text.split('\n').filter((l) => l.trim().startsWith('#'));
    expect(comments(written)).toEqual(comments(example));
    // On a processor Node is not published for, the launcher says so instead of "not found".
    const fakeBin = join(dir, 'riscv-bin');
    await mkdir(fakeBin);
    await writeFile(join(fakeBin, 'uname'), '#!/bin/sh\necho riscv64\n', { mode: 0o755 });
    const riscv = await run(['--version'], { path: `${fakeBin}:/usr/bin:/bin` });
    expect(riscv.code).toBe(1);
    expect(riscv.stderr).toContain('this machine is riscv64, for which Node is not published');
    const wrong = await run(['relay', 'start', '--config', join(dir, 'household', 'missing.yaml')]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('missing.yaml');
  });

  it('ships the repository systemd unit with every hardening line, rewritten for the archive', async () => {
    const repo = await readFile(new URL('../config/meadow-relay.service', import.meta.url), 'utf8');
    const unit = await readFile(join(unpacked, 'config', 'meadow-relay.service'), 'utf8');
    expect(unit).toBe(releaseUnit(repo, process.arch as ReleaseArch));
    expect(unit).toMatch(
      /^ExecStart=\/opt\/meadow-relay\/bin\/meadow relay start --config \/etc\/meadow\/relay\.yaml$/m,
    );
    expect(unit).not.toContain('/opt/meadow/');
    expect(unit).not.toContain('ExecStartPre');
    const settings = (text: string) =>
      text
        .split('\n')
        .filter(
          (l) =>
            /^[A-Z]\w+=/.test(l) &&
            !/^(ExecStart|ExecStartPre|WorkingDirectory|Documentation|CacheDirectory|Environment=NODE_COMPILE_CACHE)=?/.test(
              l,
            ),
        );
    expect(settings(unit)).toEqual(settings(repo));
    expect(() => releaseUnit(repo.replace(/^ExecStart=.*$/m, 'ExecStart=/usr/bin/true'), 'x64')).toThrow(/ExecStart/);
  });
});

describe('a relay from the release archive in a real network', () => {
  let net: LocalNetwork;
  let relay: LocalRelay;

  beforeAll(async () => {
    net = await startLocalNetwork({ dir: join(dir, 'net'), relays: 0 });
    relay = await net.addRelay({ meadow: [meadow] });
    await net.waitForRoutableRelays(1, 60_000);
  }, 120_000);

  afterAll(async () => {
    await net?.stop();
  });

  it("carries crawlers' requests through its own Node, serves its dashboard, and stops cleanly", async () => {
    const pid = relay.service.process.pid as number;
    expect(await readlink(`/proc/${pid}/exe`)).toBe(join(unpacked, 'lib', 'node'));
    const user = `${net.customer.name}:${net.customer.apiKey}`;
    const socks = await curl([
      '--socks5-hostname',
      `127.0.0.1:${net.gateway.socks.port}`,
      '--proxy-user',
      user,
      net.origin.url,
    ]);
    expect(socks.status).toBe(200);
    expect(JSON.parse(socks.body).youAre).toBe(relay.egressAddress);
    const connect = await curl([
      '-p',
      '-x',
      `http://127.0.0.1:${net.gateway.http.port}`,
      '--proxy-user',
      user,
      net.origin.url,
    ]);
    expect(connect.status).toBe(200);
    const status = await getJson<{ state: string; bytes: { allTime: { bytesFromTarget: number } } }>(
      `${relay.statusUrl}/status`,
    );
    expect(status.state).toBe('serving');
    expect(status.bytes.allTime.bytesFromTarget).toBeGreaterThan(0);
    // The dashboard's script is a file the bundle carries beside itself.
    const htmx = await curl([`${relay.statusUrl}/assets/htmx.min.js`]);
    expect(htmx.status).toBe(200);
    expect(htmx.body.length).toBeGreaterThan(40_000);
    const metrics = await curl([`${relay.statusUrl}/metrics`]);
    expect(metrics.body).toContain(`meadow_build_info{version="${MEADOW_VERSION}"`);
    const cli = await run(['relay', 'status', '--config', relay.configPath]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain(relay.peerId);
    const doctor = await run(['relay', 'doctor', '--config', relay.configPath]);
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0);
    expect(doctor.stdout).toMatch(/^✓ running /m);
    expect(doctor.stdout).toMatch(/^✓ listed +descriptor found/m);
    await net.stopRelay(relay); // throws unless the relay exits 0 on SIGTERM
  });
});

// An x64 machine (CI's) runs the arm64 archive under emulation and checks its launcher's refusal.
describe.skipIf(process.arch !== 'x64')('the arm64 archive (a Raspberry Pi 4 or 5), run here under qemu', () => {
  let net: LocalNetwork;
  let arm: RelayRelease;
  let qemu: string[];

  beforeAll(async () => {
    arm = await buildRelayRelease(join(dir, 'arm64'), { arch: 'arm64' });
    // qemu's user-mode emulator runs an arm64 Node with Debian's arm64 C libraries.
    qemu = [
      await debianTool('qemu-aarch64', 'qemu-user'),
      '-L',
      dirname(
        dirname(
          await debianFile('/usr/aarch64-linux-gnu/lib/libstdc++.so.6', [
            'libc6-arm64-cross',
            'libstdc++6-arm64-cross',
          ]),
        ),
      ),
    ];
    net = await startLocalNetwork({ dir: join(dir, 'arm-net'), relays: 0 });
  }, 170_000);

  afterAll(async () => {
    await net?.stop();
  });

  it('carries an arm64 Node, whose relay serves crawls in a real network', async () => {
    const elf = await readFile(join(arm.dir, 'lib', 'node'));
    expect(elf.readUInt16LE(18)).toBe(0xb7); // e_machine: AArch64
    expect(arm.archive).toMatch(/linux-arm64\.tar\.gz$/);
    expect(await readFile(join(arm.dir, 'lib', 'meadow', 'meadow.js'))).toEqual(
      await readFile(join(release.dir, 'lib', 'meadow', 'meadow.js')),
    );
    // Unpacked on the wrong processor, the launcher names the archive to get instead.
    const mismatch = await run(['--version'], { program: join(arm.dir, 'bin', 'meadow') });
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toContain(`this machine is x86_64: use meadow-relay-${MEADOW_VERSION}-linux-x64.tar.gz`);
    const node = [
      ...qemu,
      join(arm.dir, 'lib', 'node'),
      ...SERVICE_NODE_FLAGS,
      join(arm.dir, 'lib', 'meadow', 'meadow.js'),
    ];
    const relay = await net.addRelay({ meadow: node, readyTimeoutMs: 120_000 });
    await net.waitForRoutableRelays(1, 60_000);
    expect(await readlink(`/proc/${relay.service.process.pid}/exe`)).toBe(qemu[0]);
    const user = `${net.customer.name}:${net.customer.apiKey}`;
    const res = await curl(
      ['--socks5-hostname', `127.0.0.1:${net.gateway.socks.port}`, '--proxy-user', user, net.origin.url],
      60_000,
    );
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).youAre).toBe(relay.egressAddress);
    await net.stopRelay(relay);
  }, 170_000);
});
