import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../packages/cli/src/bin.js', import.meta.url));

describe('meadow demo', () => {
  it('brings up a network, crawls over every protocol through distinct relays, keeps a sticky session per country, meters, settles epochs that pay every relay alike per byte, and exits 0 within a minute', async () => {
    const started = Date.now();
    const child = spawn(process.execPath, [BIN, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    const [code] = (await once(child, 'exit')) as [number];
    clearTimeout(killer);
    const seconds = (Date.now() - started) / 1000;
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(seconds).toBeLessThan(60);
    const rows = out
      .split('\n')
      .filter((l) => /^\s+\d+ (SOCKS5|HTTP CONNECT|HTTP absolute)\s+200\s+127\.0\.0\.\d+\s+relay \d/.test(l));
    expect(rows).toHaveLength(9);
    for (const protocol of ['SOCKS5', 'HTTP CONNECT', 'HTTP absolute'])
      expect(rows.some((r) => r.includes(protocol))).toBe(true);
    // Origin never saw the gateway's own address: every request left through a relay's egress address.
    for (const row of rows) expect(row).toMatch(/127\.0\.0\.[2-4]\s/);
    // One sticky session per country: every request and the download on one relay, in that country.
    const sessionRows = out.split('\n').filter((l) => /^\s+s_[a-z]{2}\s+relay/.test(l));
    expect(sessionRows).toHaveLength(3);
    for (const row of sessionRows)
      expect(row).toMatch(/^\s+s_[a-z]{2}\s+relay (\d) bound · relay \1 kept · relay \1 kept$/);
    const downloads = out.split('\n').filter((l) => /then 16 MiB from relay \d/.test(l));
    expect(downloads).toHaveLength(3);
    for (const [i, row] of downloads.entries()) {
      expect(row).toMatch(/\(kept\) in [\d.]+ s \(\d+ MB\/s\), every byte as the origin sent it$/);
      expect(row).toContain(`from relay ${/relay (\d)/.exec(sessionRows[i] as string)?.[1]} `);
    }
    const meterRows = out.split('\n').filter((l) => /relay \d \(127\.0\.0\.\d\): \d+\/\d+ tunnels/.test(l));
    expect(meterRows).toHaveLength(3);
    let tunnels = 0;
    for (const row of meterRows) {
      const [, relayTunnels, gwTunnels, upR, upG, downR, downG] =
        /: (\d+)\/(\d+) tunnels, (\d+)\/(\d+) bytes up, (\d+)\/(\d+) bytes down/.exec(row) ?? [];
      expect(relayTunnels).toBe(gwTunnels);
      expect(upR).toBe(upG);
      expect(downR).toBe(downG);
      tunnels += Number(relayTunnels);
    }
    expect(tunnels).toBe(9 + 3 * 4);
    // The ledger chapter: an epoch settles the crawl, the export re-verifies, every carrying relay's proof checks.
    // The crawl may span several 4 s epochs; together they settle every byte the gateway metered.
    expect(out).toMatch(/epoch \d+ closed: [1-3] co-signed channels, Merkle root [0-9a-f]{16}…/);
    expect(out).toMatch(/export re-verified from scratch/);
    expect(out).toMatch(/customers billed for (\d+) bytes, relays co-signed \1, in every epoch alike/);
    const proofs = out
      .split('\n')
      .filter((l) =>
        /relay \d: \d+ bytes co-signed \(\d+ metered\) in epoch [\d, ]+, reward \d+ micro-units, proof/.test(l),
      );
    expect(proofs).toHaveLength(
      meterRows.filter((r) => !/: \d+\/\d+ tunnels, 0\/0 bytes up, 0\/0 bytes down/.test(r)).length,
    );
    for (const line of proofs) {
      const [, cosigned, metered] = / (\d+) bytes co-signed \((\d+) metered\)/.exec(line) ?? [];
      expect(cosigned).toBe(metered);
      // Every relay earns the same per byte: the customer's price (1.00 per GB) less the 5% fee,
      // whichever epochs its bytes fell in, give or take the rounding down of each epoch's sums.
      const micros = Number(/reward (\d+) micro-units/.exec(line)?.[1]);
      expect(Math.abs(micros - Number(cosigned) * 0.00095)).toBeLessThan(10);
      expect(line).toMatch(/proof ✓ checks against the signed root/);
    }
    expect(out).toMatch(/Demo finished/);
  });
});
