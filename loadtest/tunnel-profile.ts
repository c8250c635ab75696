/**
 * Where the gateway's and the relay's CPU goes per new tunnel, measured on the CPU: Linux `perf`
 * samples both processes (every thread, kernel included) under crawler load at c=64, after the
 * crawler warm-up, and each sample is charged to its process, its thread (the main thread or V8's
 * helper threads), what ran (the kernel, JIT-compiled JavaScript, V8's built-ins and runtime, the
 * garbage collector, native code) and the module of the nearest JavaScript frame (the code that
 * asked for that work: `node:net` for a socket write and its system call, `@meadow/protocol/mux`,
 * `@chainsafe/libp2p-yamux`, …).
 *
 *   npx -y pnpm@12.4.2 loadtest:tunnel-profile [-- --seconds 10 --path meadow-connect --top 30]
 *
 * `--path` takes any path of `loadtest:tunnel-cost`: `mux-floor-connect` profiles Meadow's framing
 * and a CONNECT handshake without the product around them, to set against the gateway and relay.
 *
 * The inspector's CPU profiler (what `--cpu-prof` uses) measures wall time: with five busy
 * processes on two cores a function that was preempted is charged for the time it waited, which
 * inflated a few functions several-fold in its profiles here; and it does not see V8's helper
 * threads, which did a sixth of these processes' work early in a run. Needs `perf` (Debian's
 * `linux-perf`, installed with apt when missing, as root). Report: `results/tunnel-profile.md`
 * (`results/tunnel-profile-<path>.md` for another path).
 * Function names come from the /tmp/perf-<pid>.map Node appends as it compiles; code V8 later moved
 * or freed can leave a stale name there, so some µs land on the wrong module (profiles showed
 * `node:fs`'s readFileSync, which the services run only at start, at up to 10 µs per tunnel: its
 * stacks were Noise's decipher set-up). The report says so; the split by what ran (kernel, JIT
 * code, built-ins, GC) does not depend on those names.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { scriptArgs } from './lib/args.ts';
import { startCostPaths } from './lib/paths.ts';
import { crawlFor, warmUpCrawler } from './lib/scenarios.ts';

const { values } = parseArgs({
  args: scriptArgs(),
  options: {
    seconds: { type: 'string', default: '10' },
    path: { type: 'string', default: 'meadow-connect' },
    top: { type: 'string', default: '30' },
  },
});
/** One sample per this much CPU time in a thread (perf's cpu-clock period): each sample is 0.5 ms. */
const PERIOD_NS = 500_000;

function run(command: string, args: string[], stdout?: (chunk: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', stdout == null ? 'inherit' : 'pipe', 'inherit'] });
    if (stdout != null) child.stdout?.on('data', stdout);
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}`))));
  });
}

async function ensurePerf(): Promise<void> {
  try {
    await run('perf', ['--version'], () => {});
    return;
  } catch {}
  if (process.getuid?.() !== 0) throw new Error('perf is not installed: run `apt-get install -y linux-perf`');
  process.stderr.write('installing Debian package linux-perf…\n');
  await run('apt-get', ['install', '-y', '--no-install-recommends', 'linux-perf'], () => {});
}

interface Sample {
  tid: number;
  /** Leaf first; kernel frames start with "K:". */
  frames: string[];
}

/** `perf script -F tid,ip,sym` output: a "tid" line, then one "address symbol" line per frame. */
function parsePerfScript(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n').filter((l) => l.trim() !== '');
    const head = lines[0];
    if (head == null) continue;
    const tid = Number(head.trim().split(/\s+/)[0]);
    if (!Number.isInteger(tid)) continue;
    const frames = lines.slice(1).map((line) => {
      const m = /^\s*([0-9a-f]+)\s+(.*)$/.exec(line);
      if (m == null) return line.trim();
      return (m[1] as string).startsWith('ffffffff') ? `K:${m[2]}` : (m[2] as string);
    });
    samples.push({ tid, frames });
  }
  return samples;
}

/** What a main-thread sample was doing. */
function kindOf(frames: string[]): string {
  const leaf = frames[0] ?? '';
  const near = frames.slice(0, 12).join(' ');
  if (leaf.startsWith('K:')) return 'kernel (system calls, TCP, scheduling)';
  if (/Scaveng|MarkCompact|Sweep|Heap::|GCTracer|Marking/.test(near)) return 'garbage collector';
  if (leaf.startsWith('JS:')) return 'JavaScript (JIT-compiled code)';
  if (leaf.startsWith('Builtins_')) return "V8's built-ins (property access, calls, promises, typed arrays)";
  if (leaf.startsWith('v8::')) return "V8's runtime (slow paths, handles, API calls)";
  if (/ChaCha|Poly1305|EVP_|AES/.test(leaf)) return 'OpenSSL';
  if (/malloc|free|memmove|memcpy|memset|unlink_chunk/.test(leaf)) return 'libc memory';
  return 'Node and libuv native code';
}

/** What a helper thread (V8's GC and compiler workers, libuv's pool) was doing. */
function helperKindOf(frames: string[]): string {
  const all = frames.join(' ');
  if (/Scaveng/.test(all)) return 'young-generation GC';
  if (/Marking|Mark/.test(all)) return 'marking (major GC)';
  if (/Sweep/.test(all)) return 'sweeping';
  if (/compiler::|Compil|turboshaft|maglev/i.test(all)) return 'JIT compilation';
  return 'other';
}

/** The module that asked for the work: the nearest JavaScript frame's package or Node module. */
function ownerOf(frames: string[]): string {
  const js = frames.find((f) => f.startsWith('JS:'));
  if (js == null)
    return frames[0]?.startsWith('K:')
      ? '(kernel, no JavaScript on the stack)'
      : '(native, no JavaScript on the stack)';
  const dependency = /node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(js);
  if (dependency != null) return dependency[1] as string;
  const ours = /packages\/([a-z-]+)\/src\/([a-z-]+)/.exec(js);
  if (ours != null) return `@meadow/${ours[1]}/${ours[2]}`;
  const node = /(node:[a-z_/]+)/.exec(js);
  return node?.[1] ?? 'other JavaScript';
}

/** The nearest JavaScript function and its module: where a module's time goes, one level down. */
function functionOf(frames: string[]): string {
  const js = frames.find((f) => f.startsWith('JS:'));
  if (js == null) return ownerOf(frames);
  // Perf-map names look like `JS:*'onFrame file:///…/mux.ts:249:18`; the mark before the quote says
  // which of V8's tiers compiled it (`~` Ignition, `^` Sparkplug, `+` Maglev, `*` TurboFan).
  const name = /^JS:[~^+*]?'?([^ ]*)/.exec(js)?.[1] || '(anonymous)';
  return `${name} (${ownerOf(frames)})`;
}

/** Stops `perf record` (SIGINT makes it write its file) and waits for it to exit. */
async function stopRecording(perf: ReturnType<typeof spawn>): Promise<void> {
  if (perf.exitCode != null || perf.signalCode != null) return;
  const exited = new Promise((r) => perf.once('exit', r));
  perf.kill('SIGINT');
  await exited;
}

/** Samples per key, most first. */
function countBy(list: Sample[], key: (s: Sample) => string): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const s of list) counts.set(key(s), (counts.get(key(s)) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]);
}

await ensurePerf();
const dir = await mkdtemp(join(tmpdir(), 'meadow-tunnel-profile-'));
// Perf finds JIT-compiled functions' names in /tmp/perf-<pid>.map, which Node writes with this flag.
const { net, paths, pidsOf, flaggedPids, stop } = await startCostPaths(dir, ['--perf-basic-prof-only-functions']);
const processes: Record<string, number> = {};
let recording: ReturnType<typeof spawn> | undefined;
try {
  const path = paths.find((p) => p.name === values.path);
  if (path == null) throw new Error(`no path ${values.path}: one of ${paths.map((p) => p.name).join(', ')}`);
  // The first process of a path takes the client's connection (the gateway), the second the target's (the relay).
  const [near, far] = pidsOf(path) as [number, number];
  processes[path.name.startsWith('meadow') ? 'gateway' : 'near side'] = near;
  processes[path.name.startsWith('meadow') ? 'relay' : 'far side'] = far;
  await warmUpCrawler(path, net.origin.host);
  const data = join(dir, 'perf.data');
  const pids = Object.values(processes).join(',');
  recording = spawn(
    'perf',
    ['record', '-q', '-e', 'cpu-clock', '-c', String(PERIOD_NS), '-g', '-o', data, '-p', pids],
    { stdio: 'inherit' },
  );
  await new Promise((r) => setTimeout(r, 300));
  if (recording.exitCode != null)
    throw new Error(`perf record exited with ${recording.exitCode} (as root, or with kernel.perf_event_paranoid ≤ 1)`);
  const { ok, failed } = await crawlFor(path, net.origin.host, Number(values.seconds) * 1000, 64);
  await stopRecording(recording);
  const chunks: Buffer[] = [];
  await run('perf', ['script', '-i', data, '-F', 'tid,ip,sym'], (c) => chunks.push(c));
  const samples = parsePerfScript(Buffer.concat(chunks).toString('utf8'));
  const perTunnel = (n: number): string => ((n * PERIOD_NS) / 1000 / ok).toFixed(1);

  // A thread belongs to the process whose /proc/<pid>/task lists it; the main thread's id is the pid.
  const threadsOf = new Map<number, string>();
  for (const [name, pid] of Object.entries(processes)) {
    for (const tid of await readdir(`/proc/${pid}/task`)) threadsOf.set(Number(tid), name);
  }
  const lines = [
    `# Where a new tunnel's CPU goes on the path ${values.path} (\`loadtest:tunnel-profile\`)`,
    '',
    `\`npx -y pnpm@12.4.2 loadtest:tunnel-profile -- --seconds ${values.seconds} --path ${values.path}\`, ended ${new Date().toISOString()}:`,
    `${ok} tunnels (${failed} failed) at c=64, one 1 KiB GET each, after the crawler warm-up; \`perf record -e cpu-clock -c ${PERIOD_NS} -g\``,
    'on both processes, every thread. Figures are CPU µs per completed tunnel (sampling and stack walking',
    'slow the processes somewhat, so compare shares, not totals, with `loadtest:tunnel-cost`).',
    '',
    'Module names come from the perf map Node writes as it compiles, which keeps the names of code V8 later',
    'moved or freed: a module that has no business running per tunnel stands for whatever code took its',
    "place (on 2026-11-27 `node:fs`, 10 µs in the gateway, was Noise's decipher set-up). The split by what",
    'ran (kernel, JIT code, built-ins, GC) does not depend on those names.',
  ];
  for (const [name, pid] of Object.entries(processes)) {
    const mine = samples.filter((s) => threadsOf.get(s.tid) === name);
    const main = mine.filter((s) => s.tid === pid);
    const helpers = mine.filter((s) => s.tid !== pid);
    process.stdout.write(
      `${name}: ${perTunnel(mine.length)} µs per tunnel (main thread ${perTunnel(main.length)}, helper threads ${perTunnel(helpers.length)})\n`,
    );
    lines.push('', `## ${name}: ${perTunnel(mine.length)} µs per tunnel`, '');
    lines.push(
      `Main thread ${perTunnel(main.length)} µs; helper threads (V8's GC and compiler workers, libuv's pool) ${perTunnel(helpers.length)} µs.`,
      '',
    );
    lines.push('| main thread: what ran | µs per tunnel |', '|---|---|');
    for (const [kind, n] of countBy(main, (s) => kindOf(s.frames))) lines.push(`| ${kind} | ${perTunnel(n)} |`);
    lines.push('', '| helper threads | µs per tunnel |', '|---|---|');
    for (const [kind, n] of countBy(helpers, (s) => helperKindOf(s.frames)))
      lines.push(`| ${kind} | ${perTunnel(n)} |`);
    lines.push('', '| main thread: on behalf of (nearest JavaScript frame) | µs per tunnel |', '|---|---|');
    for (const [owner, n] of countBy(main, (s) => ownerOf(s.frames)).slice(0, Number(values.top)))
      lines.push(`| \`${owner}\` | ${perTunnel(n)} |`);
    lines.push('', '| main thread: on behalf of (nearest JavaScript function) | µs per tunnel |', '|---|---|');
    for (const [owner, n] of countBy(main, (s) => functionOf(s.frames)).slice(0, Number(values.top)))
      lines.push(`| \`${owner}\` | ${perTunnel(n)} |`);
  }
  await mkdir(new URL('results/', import.meta.url), { recursive: true });
  const report = values.path === 'meadow-connect' ? 'tunnel-profile.md' : `tunnel-profile-${values.path}.md`;
  await writeFile(new URL(`results/${report}`, import.meta.url), `${lines.join('\n')}\n`);
  process.stdout.write(`report: loadtest/results/${report}\n`);
} finally {
  // perf must not outlive a run that failed while it recorded.
  if (recording != null) await stopRecording(recording);
  await stop();
  // Every process of every path ran with the perf-map flag, not only the two profiled.
  for (const pid of flaggedPids) await rm(`/tmp/perf-${pid}.map`, { force: true });
  await rm(dir, { recursive: true, force: true });
}
