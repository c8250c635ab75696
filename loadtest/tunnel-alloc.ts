/**
 * What one new tunnel allocates in the gateway and in the relay, and where: V8's sampling heap
 * profiler, keeping objects the garbage collector has already freed (a tunnel's garbage is what
 * the young-generation collections, and their pauses, are made of), over a crawler load at c=64.
 *
 *   npx -y pnpm@12.4.2 loadtest:tunnel-alloc [-- --seconds 5 --path meadow-connect --top 25]
 *
 * The gateway and the relay run with `--inspect=127.0.0.1:0`; this script drives their profilers
 * over the inspector protocol. Sampling every 1 KiB makes the processes slower, so the tunnels per
 * second here are not a throughput figure; bytes per tunnel are. Report: `results/tunnel-alloc.md`.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type ChildService, startLocalNetwork } from '@meadow/cli';
import { scriptArgs } from './lib/args.ts';
import { meadowPaths } from './lib/paths.ts';
import { crawlFor, warmUpCrawler } from './lib/scenarios.ts';

const { values } = parseArgs({
  args: scriptArgs(),
  options: {
    seconds: { type: 'string', default: '5' },
    path: { type: 'string', default: 'meadow-connect' },
    top: { type: 'string', default: '25' },
  },
});
const SAMPLING_BYTES = 1024;

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children?: ProfileNode[];
}

/** A minimal inspector-protocol client over the WebSocket the process printed at start. */
async function inspectorOf(service: ChildService): Promise<{
  call(method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>>;
  close(): void;
}> {
  const url = /ws:\/\/\S+/.exec(service.tail(200))?.[0];
  if (url == null) throw new Error(`${service.name} printed no inspector address`);
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve, { once: true });
    ws.addEventListener('error', () => reject(new Error(`cannot reach ${service.name}'s inspector`)), { once: true });
  });
  let nextId = 0;
  const waiting = new Map<number, { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  ws.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as {
      id?: number;
      result?: Record<string, unknown>;
      error?: unknown;
    };
    if (message.id == null) return;
    const entry = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.error != null) entry?.reject(new Error(JSON.stringify(message.error)));
    else entry?.resolve(message.result ?? {});
  });
  // A process that exits mid-call answers nothing: fail its calls instead of waiting forever.
  ws.addEventListener('close', () => {
    for (const entry of waiting.values()) entry.reject(new Error(`${service.name}'s inspector closed`));
    waiting.clear();
  });
  return {
    call: (method, params = {}) =>
      new Promise((resolve, reject) => {
        const id = ++nextId;
        waiting.set(id, { resolve, reject });
        ws.send(JSON.stringify({ id, method, params }));
      }),
    close: () => ws.close(),
  };
}

/** Bytes per allocation site (function, file, line) and per package or Node module. */
function summarize(head: ProfileNode): { total: number; bySite: Map<string, number>; byModule: Map<string, number> } {
  const bySite = new Map<string, number>();
  const byModule = new Map<string, number>();
  let total = 0;
  const add = (map: Map<string, number>, key: string, bytes: number): void => {
    map.set(key, (map.get(key) ?? 0) + bytes);
  };
  const walk = (node: ProfileNode): void => {
    if (node.selfSize > 0) {
      const { functionName, url, lineNumber } = node.callFrame;
      total += node.selfSize;
      const file = url.split('/').slice(-2).join('/');
      add(bySite, `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`, node.selfSize);
      const module = url.includes('node_modules/')
        ? (url.split('node_modules/').pop() as string).split('/').slice(0, 2).join('/')
        : url.includes('/packages/')
          ? `@meadow/${(url.split('/packages/')[1] as string).split('/')[0]}`
          : url === ''
            ? '(V8 and native)'
            : url;
      add(byModule, module, node.selfSize);
    }
    for (const child of node.children ?? []) walk(child);
  };
  walk(head);
  return { total, bySite, byModule };
}

const dir = await mkdtemp(join(tmpdir(), 'meadow-tunnel-alloc-'));
const net = await startLocalNetwork({ dir, relays: 1, countries: ['DE'], nodeFlags: ['--inspect=127.0.0.1:0'] });
const inspectors: Array<Awaited<ReturnType<typeof inspectorOf>>> = [];
try {
  await net.waitForRoutableRelays(1, 60_000);
  const path = meadowPaths(net).find((p) => p.name === values.path);
  if (path == null) throw new Error(`no path ${values.path}`);
  const processes = { gateway: net.gateway.service, relay: net.relays[0]?.service as ChildService };
  await warmUpCrawler(path, net.origin.host);
  for (const service of Object.values(processes)) inspectors.push(await inspectorOf(service));
  for (const inspector of inspectors) {
    await inspector.call('HeapProfiler.enable');
    await inspector.call('HeapProfiler.startSampling', {
      samplingInterval: SAMPLING_BYTES,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  }
  const { ok, failed } = await crawlFor(path, net.origin.host, Number(values.seconds) * 1000, 64);
  const lines = [
    '# Allocation per new tunnel (`loadtest:tunnel-alloc`)',
    '',
    `\`npx -y pnpm@12.4.2 loadtest:tunnel-alloc -- --seconds ${values.seconds} --path ${values.path}\`, ended ${new Date().toISOString()}:`,
    `${ok} tunnels (${failed} failed) at c=64, one 1 KiB GET each; V8's sampling heap profiler every ${SAMPLING_BYTES} bytes,`,
    'objects already collected included. Bytes are per completed tunnel.',
  ];
  for (const [i, name] of Object.keys(processes).entries()) {
    const inspector = inspectors[i] as Awaited<ReturnType<typeof inspectorOf>>;
    const { profile } = (await inspector.call('HeapProfiler.stopSampling')) as { profile: { head: ProfileNode } };
    const { total, bySite, byModule } = summarize(profile.head);
    const perTunnel = (bytes: number): string => (bytes / ok).toFixed(0);
    const top = (map: Map<string, number>, n: number) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n);
    process.stdout.write(`${name}: ${(total / ok / 1024).toFixed(1)} KiB allocated per tunnel\n`);
    lines.push('', `## ${name}: ${(total / ok / 1024).toFixed(1)} KiB per tunnel`, '');
    lines.push('| where (package or module) | bytes per tunnel |', '|---|---|');
    for (const [module, bytes] of top(byModule, 12)) lines.push(`| ${module} | ${perTunnel(bytes)} |`);
    lines.push('', '| allocation site | bytes per tunnel |', '|---|---|');
    for (const [site, bytes] of top(bySite, Number(values.top))) lines.push(`| \`${site}\` | ${perTunnel(bytes)} |`);
  }
  await mkdir(new URL('results/', import.meta.url), { recursive: true });
  await writeFile(new URL('results/tunnel-alloc.md', import.meta.url), `${lines.join('\n')}\n`);
  process.stdout.write('report: loadtest/results/tunnel-alloc.md\n');
} finally {
  for (const inspector of inspectors) inspector.close();
  await net.stop();
  await rm(dir, { recursive: true, force: true });
}
