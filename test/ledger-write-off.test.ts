import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { type LocalNetwork, startLocalNetwork } from '@meadow/cli';
import type { EpochHeader, LedgerEntry, RevenueBody, SignedReceipt } from '@meadow/ledger';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMeadow, socksConnect, waitFor, waitForNoTunnels } from './harness.ts';

// Receipt rounds at each close only (every 8 s), and a relay unreachable for 2 s is taken for gone.
const LEDGER = { epochSeconds: 8, receiptIntervalSeconds: 3_600, writeOffUnsignedAfterSeconds: 2 };

let net: LocalNetwork;
let dir: string;
/** The client's payload bytes through the relay stopped gracefully (the first test). */
let stoppedBytes = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-write-off-'));
  net = await startLocalNetwork({ dir, relays: 3, countries: ['DE', 'FR', 'NL'], gatewayConfig: { ledger: LEDGER } });
  await net.waitForRoutableRelays(3, 60_000);
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

function query<T>(file: string, sql: string): T[] {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

/** The relays the gateway's saved meters hold a row for. */
function savedRelays(): string[] {
  const rows = query<{ key: string }>(
    join(dir, 'gateway-data', 'meters.db'),
    "SELECT key FROM epoch_meters WHERE kind = 'relay'",
  );
  return rows.map((r) => r.key);
}

/** The bytes relay `n` (1-based) has saved in its own meter, all gateways together. */
function relayMeterBytes(n: number): number {
  const rows = query<{ bytes: number }>(
    join(dir, `relay-${n}-data`, 'receipts.db'),
    'SELECT bytes_to_target + bytes_from_target AS bytes FROM gateway_meter',
  );
  return rows.reduce((sum, r) => sum + r.bytes, 0);
}

/** Resolves right after the next epoch close: the next receipt round is then a whole epoch away. */
async function justAfterAClose(): Promise<number> {
  const closed = await epochsClosed();
  await waitFor(async () => (await epochsClosed()) > closed, 20_000, 'an epoch to close');
  return epochsClosed();
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

describe('the bytes of a relay that leaves', () => {
  it('are co-signed before it stops, when it stops gracefully', async () => {
    const stopping = net.relays[2];
    if (stopping == null) throw new Error('expected three relays');
    const closes = await justAfterAClose();
    stoppedBytes = await transfer('nl', 300_000);
    await waitForNoTunnels(net);
    await net.stopRelay(stopping);
    // No close since: the receipt is the last round the gateway ran for the relay alone.
    expect(await epochsClosed()).toBe(closes);
    expect(cosignedByRelay(await exportEntries()).get(stopping.peerId)).toBe(stoppedBytes);
    expect(stopping.service.tail(200)).toContain('stopping: every byte carried is co-signed');
  });

  it('are written off when it stays unreachable, never billed or paid, and a relay that returns signs its new bytes under protest', async () => {
    const [gone, stays] = net.relays;
    if (gone == null || stays == null) throw new Error('expected three relays');
    const closes = await justAfterAClose();
    const goneBytes = await transfer('de', 6_000_000);
    const staysBytes = await transfer('fr', 200_000);
    await waitForNoTunnels(net);
    await waitFor(async () => savedRelays().includes(gone.peerId), 5_000, "the gone relay's bytes in the saved meters");
    // A crash once its own meter has the bytes (it saves every 5 s), before any round could sign them.
    await waitFor(async () => relayMeterBytes(1) >= goneBytes, 7_000, "the relay's saved meter to have its bytes");
    gone.service.kill('SIGKILL');
    expect(await epochsClosed(), 'no close before the relay went').toBe(closes);
    const unreachableBefore = await unreachable();

    await waitFor(async () => (await writtenOff()) === goneBytes, 20_000, `${goneBytes} bytes to be written off`);
    expect(await unreachable()).toBeGreaterThan(unreachableBefore);
    expect(net.gateway.service.tail(200)).toContain('its bytes not co-signed are written off');
    // Nothing of it is held, saved or proposed any more.
    const closedAfter = await epochsClosed();
    const unreachableAfter = await unreachable();
    await waitFor(async () => (await epochsClosed()) > closedAfter, 15_000, 'one more close');
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
    const kept = staysBytes + stoppedBytes;
    expect({ billed, paid }).toEqual({ billed: kept, paid: kept });
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
    // The household sees the bytes written off as carried and in no receipt (once its meter, saved
    // every 5 s, has the new bytes too).
    type Report = { bytes: Array<{ gateway: string; carriedBytes: number; awaitingReceiptBytes: number }> };
    await waitFor(
      async () => {
        const report = JSON.parse(
          (await runMeadow(['relay', 'earnings', '--config', back.configPath, '--json'])).stdout,
        ) as Report;
        const here = report.bytes.find((b) => b.gateway === net.gateway.peerId);
        return here?.carriedBytes === goneBytes + newBytes && here.awaitingReceiptBytes === goneBytes;
      },
      15_000,
      `the relay to show ${goneBytes} bytes carried and in no receipt`,
    );
    const human = await runMeadow(['relay', 'earnings', '--config', back.configPath]);
    expect(human.stdout).toContain('Where every byte carried stands');
  });
});
