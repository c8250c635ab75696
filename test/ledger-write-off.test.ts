import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { type LocalNetwork, startLocalNetwork } from '@meadow/cli';
import type { EpochHeader, LedgerEntry, RevenueBody, SignedReceipt } from '@meadow/ledger';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMeadow, socksConnect, waitFor, waitForNoTunnels } from './harness.ts';

// Rounds at each close only (every 3 s), and a relay unreachable for 2 s is taken for gone.
const LEDGER = { epochSeconds: 3, receiptIntervalSeconds: 3_600, writeOffUnsignedAfterSeconds: 2 };

let net: LocalNetwork;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-write-off-'));
  net = await startLocalNetwork({ dir, relays: 2, countries: ['DE', 'FR'], gatewayConfig: { ledger: LEDGER } });
  await net.waitForRoutableRelays(2, 60_000);
});

afterAll(async () => {
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** One GET of `bytes` through a relay of `country`; the payload bytes the client wrote and read. */
async function transfer(country: string, bytes: number): Promise<number> {
  const username = `${net.customer.name}-country-${country}`;
  const socket = await socksConnect(
    net.gateway.socks,
    { username, password: net.customer.apiKey },
    net.origin.host,
    net.origin.port,
  );
  const request = Buffer.from(`GET /bytes/${bytes} HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n`);
  let received = 0;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.byteLength;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('close', () => resolve());
    socket.once('error', reject);
    socket.write(request);
  });
  expect(received).toBeGreaterThan(bytes);
  return request.byteLength + received;
}

async function metric(pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${net.gateway.adminUrl}/metrics`)).text();
  return Number(pattern.exec(text)?.[1] ?? Number.NaN);
}

const epochsClosed = () => metric(/^meadow_gateway_epochs_closed_total (\d+)$/m);
const writtenOff = () => metric(/^meadow_gateway_unsigned_bytes_written_off_total (\d+)$/m);
const unreachable = () => metric(/^meadow_gateway_receipts_total\{result="unreachable"\} (\d+)$/m);
const underProtest = () => metric(/^meadow_gateway_receipts_total\{result="signed_under_protest"\} (\d+)$/m);

/** The relays the gateway's saved meters hold a row for. */
function savedRelays(): string[] {
  const db = new DatabaseSync(join(dir, 'gateway-data', 'meters.db'), { readOnly: true });
  try {
    const rows = db.prepare("SELECT key FROM epoch_meters WHERE kind = 'relay'").all() as Array<{ key: string }>;
    return rows.map((r) => r.key);
  } finally {
    db.close();
  }
}

async function exportEntries(): Promise<LedgerEntry[]> {
  const file = join(dir, `export-${Date.now()}.jsonl`);
  const out = await runMeadow(['ledger', 'export', '--config', net.gateway.configPath, '--out', file]);
  expect(out.code, out.stderr).toBe(0);
  return (await readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => JSON.parse(l) as LedgerEntry);
}

/** Per relay, its bytes co-signed over all epochs (the last receipt of each epoch, summed). */
function cosignedByRelay(entries: LedgerEntry[]): Map<string, number> {
  const finals = new Map<string, SignedReceipt>();
  for (const e of entries)
    if (e.kind === 'receipt')
      finals.set(`${(e.body as SignedReceipt).relay}/${(e.body as SignedReceipt).epoch}`, e.body as SignedReceipt);
  const bytes = new Map<string, number>();
  for (const r of finals.values()) bytes.set(r.relay, (bytes.get(r.relay) ?? 0) + r.bytesToTarget + r.bytesFromTarget);
  return bytes;
}

describe('bytes a relay never co-signs', () => {
  it('are written off once it stays unreachable, never billed or paid, and a relay that returns signs its new bytes under protest', async () => {
    const [gone, stays] = net.relays;
    if (gone == null || stays == null) throw new Error('expected two relays');
    // Right after a close: the next round is 3 s away, time to move bytes and stop the relay first.
    const closed = await epochsClosed();
    await waitFor(async () => (await epochsClosed()) > closed, 10_000, 'an epoch to close');
    const goneBytes = await transfer('de', 6_000_000);
    const staysBytes = await transfer('fr', 200_000);
    await waitForNoTunnels(net);
    await waitFor(async () => savedRelays().includes(gone.peerId), 5_000, "the gone relay's bytes in the saved meters");
    await net.stopRelay(gone);
    const unreachableBefore = await unreachable();

    await waitFor(async () => (await writtenOff()) === goneBytes, 20_000, `${goneBytes} bytes to be written off`);
    expect(await unreachable()).toBeGreaterThan(unreachableBefore);
    expect(net.gateway.service.tail(200)).toContain('its bytes not co-signed are written off');
    // Nothing of it is held, saved or proposed any more.
    const closedAfter = await epochsClosed();
    const unreachableAfter = await unreachable();
    await waitFor(async () => (await epochsClosed()) >= closedAfter + 2, 15_000, 'two more closes');
    expect(await unreachable()).toBe(unreachableAfter);
    expect(savedRelays()).not.toContain(gone.peerId);

    const entries = await exportEntries();
    const cosigned = cosignedByRelay(entries);
    expect(cosigned.get(gone.peerId) ?? 0).toBe(0);
    expect(cosigned.get(stays.peerId)).toBe(staysBytes);
    const billed = entries
      .filter((e) => e.kind === 'revenue')
      .reduce((sum, e) => sum + (e.body as RevenueBody).bytes, 0);
    const paid = entries
      .filter((e) => e.kind === 'epoch')
      .reduce((sum, e) => sum + (e.body as EpochHeader).rewards.reduce((s, r) => s + r.bytes, 0), 0);
    expect({ billed, paid }).toEqual({ billed: staysBytes, paid: staysBytes });
    const file = join(dir, 'export.jsonl');
    await runMeadow(['ledger', 'export', '--config', net.gateway.configPath, '--out', file]);
    const verified = await runMeadow(['ledger', 'verify', file]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toContain('every epoch bills exactly what its relays co-signed');

    // The relay comes back: the gateway counts it from zero, its own meter still has the bytes,
    // and it signs under protest, with both figures on record.
    const back = await net.startRelayAgain(gone);
    await net.waitForRoutableRelays(2, 60_000);
    const protestBefore = await underProtest();
    const newBytes = await transfer('de', 100_000);
    await waitForNoTunnels(net);
    await waitFor(
      async () => cosignedByRelay(await exportEntries()).get(back.peerId) === newBytes,
      20_000,
      "the returning relay's new bytes to be co-signed",
    );
    expect(await underProtest()).toBe(protestBefore + 1);
    const earnings = await runMeadow(['relay', 'earnings', '--config', back.configPath, '--json']);
    expect(earnings.code, earnings.stderr).toBe(0);
    expect((JSON.parse(earnings.stdout) as { disputes: number }).disputes).toBe(1);
  });
});
