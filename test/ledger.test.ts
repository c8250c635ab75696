import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalNetwork, startLocalNetwork } from '@meadow/cli';
import type { EpochHeader, LedgerEntry, RevenueBody, SignedReceipt } from '@meadow/ledger';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMeadow, socksConnect, waitFor, waitForNoTunnels } from './harness.ts';

let net: LocalNetwork;
let dir: string;
const client = { sent: 0, received: 0 };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-ledger-e2e-'));
  net = await startLocalNetwork({
    dir,
    relays: 3,
    countries: ['DE', 'FR', 'NL'],
    gatewayConfig: { ledger: { epochSeconds: 6, receiptIntervalSeconds: 1, protocolFeePercent: 10 } },
  });
  await net.waitForRoutableRelays(3, 60_000);
});

afterAll(async () => {
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
});

const creds = () => ({ username: net.customer.name, password: net.customer.apiKey });

/** One request through a SOCKS5 tunnel, counting exactly the payload bytes this client wrote and read. */
async function transfer(request: Buffer, username = creds().username): Promise<void> {
  const socket = await socksConnect(net.gateway.socks, { ...creds(), username }, net.origin.host, net.origin.port);
  let received = 0;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.byteLength;
  });
  const closed = new Promise<void>((resolve, reject) => {
    socket.once('close', () => resolve());
    socket.once('error', reject);
  });
  socket.write(request);
  await closed;
  client.sent += request.byteLength;
  client.received += received;
}

function get(path: string): Buffer {
  return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n`);
}

function upload(bytes: number): Buffer {
  const head = `POST /upload HTTP/1.1\r\nHost: origin\r\nContent-Length: ${bytes}\r\nConnection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), Buffer.alloc(bytes, 0x5a)]);
}

async function exportLines(): Promise<string[]> {
  const file = join(dir, `export-${Date.now()}.jsonl`);
  const out = await runMeadow(['ledger', 'export', '--config', net.gateway.configPath, '--out', file]);
  expect(out.code, out.stderr).toBe(0);
  return (await readFile(file, 'utf8')).trim().split('\n');
}

/** Co-signed totals: the highest receipt of every channel (relay, epoch), summed. */
function cosigned(entries: LedgerEntry[]): { up: number; down: number } {
  const finals = new Map<string, SignedReceipt>();
  for (const e of entries) {
    if (e.kind !== 'receipt') continue;
    const r = e.body as SignedReceipt;
    finals.set(`${r.relay}/${r.epoch}`, r);
  }
  let up = 0;
  let down = 0;
  for (const r of finals.values()) {
    up += r.bytesToTarget;
    down += r.bytesFromTarget;
  }
  return { up, down };
}

async function waitForAllCosigned(what: string): Promise<void> {
  await waitFor(
    async () => {
      const totals = cosigned((await exportLines()).slice(1).map((l) => JSON.parse(l)));
      return totals.up === client.sent && totals.down === client.received;
    },
    30_000,
    what,
  );
}

/** The export's entries, once every byte the client moved is co-signed and an epoch closed after the last receipt. */
async function waitForSettledExport(): Promise<LedgerEntry[]> {
  let entries: LedgerEntry[] = [];
  await waitFor(
    async () => {
      entries = (await exportLines()).slice(1).map((l) => JSON.parse(l));
      const totals = cosigned(entries);
      const lastReceipt = entries.findLastIndex((e) => e.kind === 'receipt');
      const closedAfter = entries.findIndex((e, i) => e.kind === 'epoch' && i > lastReceipt);
      return totals.up === client.sent && totals.down === client.received && closedAfter > 0;
    },
    40_000,
    `co-signed bytes to equal the client's ${client.sent} sent and ${client.received} received, in a closed epoch`,
  );
  return entries;
}

/** When the open epoch closes, at least a second from now: every 6 s after the last header's end. */
async function nextEpochClose(): Promise<number> {
  let closes: number[] = [];
  await waitFor(
    async () => {
      closes = (await exportLines())
        .slice(1)
        .map((l) => JSON.parse(l) as LedgerEntry)
        .filter((e) => e.kind === 'epoch')
        .map((e) => (e.body as EpochHeader).endedAt);
      return closes.length > 0;
    },
    20_000,
    'an epoch to close',
  );
  let next = Math.max(...closes) + 6_000;
  while (next - Date.now() < 1_000) next += 6_000;
  return next;
}

async function sleepUntil(time: number): Promise<void> {
  await new Promise((r) => setTimeout(r, time - Date.now()));
}

/** Every closed epoch billed its customers for exactly the bytes its relays co-signed. */
function expectBilledAsPaid(entries: LedgerEntry[]): void {
  const revenue = entries.filter((e) => e.kind === 'revenue').map((e) => e.body as RevenueBody);
  for (const h of entries.filter((e) => e.kind === 'epoch').map((e) => e.body as EpochHeader)) {
    const billed = revenue.filter((line) => line.epoch === h.epoch).reduce((sum, line) => sum + line.bytes, 0);
    const paid = h.rewards.reduce((sum, r) => sum + r.bytes, 0);
    expect({ epoch: h.epoch, billed }).toEqual({ epoch: h.epoch, billed: paid });
  }
}

describe('the ledger over a real network', () => {
  it('co-signs exactly the payload bytes clients moved, settles epochs with rewards from revenue, and the export verifies', async () => {
    for (let i = 0; i < 6; i++) await transfer(get(`/bytes/${200_000 + i * 77_777}`));
    await transfer(upload(1_500_000));
    await transfer(get('/'));
    await waitForNoTunnels(net);

    const entries = await waitForSettledExport();

    const file = join(dir, 'verified.jsonl');
    const out = await runMeadow(['ledger', 'export', '--config', net.gateway.configPath, '--out', file]);
    expect(out.code).toBe(0);
    const verdict = await runMeadow(['ledger', 'verify', file]);
    expect(verdict.code, verdict.stdout).toBe(0);
    expect(verdict.stdout).toMatch(/✓ ledger verified/);
    expect(verdict.stdout).toMatch(
      /bytes billed to customers ([\d,]+), co-signed by relays \1: every epoch bills exactly what its relays co-signed/,
    );
    const portable = await runMeadow(['ledger', 'verify', file, '--portable']);
    expect(portable.code, portable.stdout).toBe(0);
    // One byte changed in the middle of the file: the verdict names the line and the reason, exit 1.
    const text = await readFile(file, 'utf8');
    const lines = text.split('\n');
    const target = lines.findIndex((l) => l.includes('"kind":"receipt"'));
    // The whole number + 1 (changing only its first digit turned a leading 9 into 0: invalid JSON).
    lines[target] = (lines[target] as string).replace(
      /"bytesFromTarget":(\d+)/,
      (_m, n) => `"bytesFromTarget":${Number(n) + 1}`,
    );
    await writeFile(join(dir, 'tampered.jsonl'), lines.join('\n'));
    const tampered = await runMeadow(['ledger', 'verify', join(dir, 'tampered.jsonl')]);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toContain(`✗ the ledger does not verify — line ${target + 1}: bad-hash`);

    const headers = entries.filter((e) => e.kind === 'epoch').map((e) => e.body as EpochHeader);
    const revenue = entries.filter((e) => e.kind === 'revenue').map((e) => e.body as RevenueBody);
    const paid = headers.filter((h) => h.receipts > 0);
    expect(paid.length).toBeGreaterThan(0);
    const billed = revenue.reduce((sum, line) => sum + line.bytes, 0);
    expect(billed).toBe(client.sent + client.received);
    for (const h of headers) {
      expect(h.providerPoolMicros).toBe(Math.floor((h.revenueMicros * 900_000) / 1_000_000));
      if (h.receipts > 0) expect(h.rewards.reduce((s, r) => s + r.micros, 0)).toBe(h.providerPoolMicros);
    }

    // Each relay checks its own settlements against the signed roots, on its own machine.
    const expected = new Map<string, number>();
    for (const h of headers) for (const r of h.rewards) expected.set(r.relay, (expected.get(r.relay) ?? 0) + r.micros);
    for (const relay of net.relays) {
      let report: { epochs: Array<{ proofVerified: boolean; micros: number }>; totalMicros: number } | undefined;
      await waitFor(
        async () => {
          const res = await runMeadow(['relay', 'earnings', '--config', relay.configPath, '--json']);
          report = JSON.parse(res.stdout);
          return report?.totalMicros === (expected.get(relay.peerId) ?? 0);
        },
        20_000,
        `relay ${relay.peerId} to hold verified settlements worth ${expected.get(relay.peerId) ?? 0} micros`,
      );
      expect(report?.epochs.every((e) => e.proofVerified)).toBe(true);
    }
    const human = await runMeadow(['relay', 'earnings', '--config', net.relays[0]?.configPath as string]);
    expect(human.stdout).toMatch(/Total of verified epochs|No epoch has been settled yet/);
  });

  it('an epoch that closes while bytes flow bills and pays the same bytes, so relays earn alike per byte', async () => {
    // A download at full speed that starts just before the next close and lasts a second or more:
    // bytes move while the relays sign the epoch's final receipts, even if the close is late.
    await sleepUntil((await nextEpochClose()) - 150);
    const started = Date.now();
    await transfer(get('/bytes/256000000'));
    const ended = Date.now();
    await waitForNoTunnels(net);
    const entries = await waitForSettledExport();
    const headers = entries.filter((e) => e.kind === 'epoch').map((e) => e.body as EpochHeader);
    const closedDuring = headers.filter((h) => h.endedAt > started && h.endedAt < ended);
    expect(closedDuring.length, 'an epoch closed during the download').toBeGreaterThan(0);
    expectBilledAsPaid(entries);
  });

  it('a gateway killed mid-epoch resumes from its saved counters and still bills exactly what its relays co-sign', async () => {
    for (let i = 0; i < 3; i++) await transfer(get(`/bytes/${700_000 + i}`));
    await waitForNoTunnels(net);
    await new Promise((r) => setTimeout(r, 1_500)); // the counters are saved every second
    await net.restartGateway({ signal: 'SIGKILL' });
    await net.waitForRoutableRelays(3, 60_000);
    for (let i = 0; i < 3; i++) await transfer(get(`/bytes/${300_000 + i}`));
    await waitForNoTunnels(net);
    expectBilledAsPaid(await waitForSettledExport());
  });

  it('a relay that was offline for a round catches up at the next one, and after a restart from its persisted meter', async () => {
    const relay = net.relays[1];
    if (relay == null) throw new Error('expected three relays');
    // Everything through this relay: the username targets its country, the only relay there.
    const username = `${net.customer.name}-country-${relay.country.toLowerCase()}`;
    const missed = async (): Promise<number> => {
      const text = await (await fetch(`${net.gateway.adminUrl}/metrics`)).text();
      return [...text.matchAll(/meadow_gateway_receipts_total\{result="(?:failed|unreachable)"\} (\d+)/g)].reduce(
        (sum, m) => sum + Number(m[1]),
        0,
      );
    };
    const missedBefore = await missed();
    const close = await nextEpochClose();
    await sleepUntil(close - 700);
    await transfer(get('/bytes/250000'), username);
    // Frozen the moment its bytes are in, through the epoch's close: the final round cannot reach
    // it, so its bytes are co-signed, billed and paid in the next epoch.
    relay.service.kill('SIGSTOP');
    try {
      await waitFor(async () => (await missed()) > missedBefore, 20_000, 'a receipt round to miss the frozen relay');
      await waitFor(
        async () =>
          (await exportLines()).some((l) => l.includes('"kind":"epoch"') && JSON.parse(l).body.endedAt > close),
        30_000,
        'the epoch to close without the frozen relay',
      );
    } finally {
      relay.service.kill('SIGCONT');
    }
    await waitForAllCosigned('the relay to catch up: every byte co-signed');

    const restarted = await net.restartRelay(relay);
    await net.waitForRoutableRelays(3, 60_000);
    for (let i = 0; i < 2; i++) await transfer(get(`/bytes/${100_000 + i}`), username);
    await waitForNoTunnels(net);
    await waitForAllCosigned('every byte, before and after the restart, to be co-signed');
    const earnings = await runMeadow(['relay', 'earnings', '--config', restarted.configPath, '--json']);
    const report = JSON.parse(earnings.stdout) as { receipts: number; disputes: number };
    expect(report.receipts).toBeGreaterThan(0);
    expect(report.disputes).toBe(0);
    const metrics = await (await fetch(`${net.gateway.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/^meadow_gateway_receipts_total\{result="disputed"\} 0$/m);
    expect(metrics).toMatch(/^meadow_gateway_receipts_total\{result="signed_under_protest"\} 0$/m);
    expectBilledAsPaid(await waitForSettledExport());
  });
});
