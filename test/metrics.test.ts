import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalNetwork, startLocalNetwork } from '@meadow/cli';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LoadgenMetrics, startLoadgenMetrics } from '../loadtest/lib/loadgen-metrics.ts';
import { curl, waitForNoTunnels } from './harness.ts';
import { type MetricFamily, parsePrometheusText } from './prometheus-text.ts';

let net: LocalNetwork;
let dir: string;
let loadgen: LoadgenMetrics;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-metrics-'));
  net = await startLocalNetwork({ dir, relays: 1, countries: ['DE'] });
  await net.waitForRoutableRelays(1, 60_000);
  loadgen = await startLoadgenMetrics();
  // Some traffic, so that counters and histograms have samples.
  const proxy = `socks5h://${net.gateway.socks.host}:${net.gateway.socks.port}`;
  const res = await curl(['-sS', '-x', proxy, '-U', `${net.customer.name}:${net.customer.apiKey}`, net.origin.url]);
  expect(res.status).toBe(200);
  loadgen.requests.inc({ scenario: 'test', path: 'direct', result: 'ok' });
  loadgen.requestSeconds.observe({ scenario: 'test', path: 'direct' }, 0.01);
  await waitForNoTunnels(net);
});

afterAll(async () => {
  loadgen?.server.close();
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function scrape(url: string): Promise<Map<string, MetricFamily>> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await res.text());
}

/** What every Meadow endpoint must follow: base units, counters end in _total, bounded labels, build info. */
function checkConventions(families: Map<string, MetricFamily>, role: string): void {
  const build = families.get('meadow_build_info');
  expect(build?.type).toBe('gauge');
  expect(build?.samples[0]?.labels.role).toBe(role);
  for (const f of families.values()) {
    // Ours follow the conventions; libp2p's own families (kept as libp2p names them) must at least
    // parse and never carry a peer id.
    if (f.name.startsWith('meadow_')) {
      if (f.type === 'counter') expect(f.name, `${f.name} is a counter`).toMatch(/_total$/);
      expect(f.help, `${f.name} has help`).not.toBe('');
      expect(f.name, `${f.name} uses base units`).not.toMatch(/_(ms|milliseconds|kb|mb|kib|mib)(_|$)/);
      for (const s of f.samples)
        for (const label of Object.keys(s.labels))
          expect(['peer', 'peer_id', 'customer', 'session', 'host', 'target', 'address']).not.toContain(label);
    }
    if (f.type === 'histogram') {
      const buckets = f.samples.filter((s) => s.name.endsWith('_bucket'));
      if (buckets.length > 0) expect(buckets.some((b) => b.labels.le === '+Inf')).toBe(true);
    }
    for (const s of f.samples)
      for (const value of Object.values(s.labels))
        expect(value, `${s.name} has a peer id as a label`).not.toMatch(/12D3KooW/);
  }
}

describe('every process exposes Prometheus metrics on its own registry', () => {
  it('gateway: proxy, pool, ledger, DHT, process and libp2p families', async () => {
    const families = await scrape(`${net.gateway.adminUrl}/metrics`);
    checkConventions(families, 'gateway');
    for (const name of [
      'meadow_gateway_tunnels_total',
      'meadow_gateway_tunnel_setup_seconds',
      'meadow_gateway_payload_bytes_total',
      'meadow_gateway_relay_pool_size',
      'meadow_gateway_receipts_total',
      'meadow_gateway_ledger_open_epoch',
      'meadow_gateway_unsigned_bytes_written_off_total',
      'meadow_dht_routing_table_peers',
      'meadow_gateway_process_cpu_seconds_total',
    ])
      expect(families.has(name), name).toBe(true);
    expect(families.get('meadow_gateway_tunnel_setup_seconds')?.type).toBe('histogram');
    expect(
      [...families.keys()].some((n) => n.startsWith('libp2p_')),
      'libp2p metrics',
    ).toBe(true);
    const ok = families.get('meadow_gateway_tunnels_total')?.samples.find((s) => s.labels.result === 'ok');
    expect(ok?.value).toBeGreaterThanOrEqual(1);
    // Every background task's failure series exists from the start (at 0 on a healthy network), so
    // an alert on it works before the first failure.
    const tasks = families.get('meadow_gateway_background_task_failures_total')?.samples;
    expect(Object.fromEntries(tasks?.map((s) => [s.labels.task, s.value]) ?? [])).toEqual({
      advertise: 0,
      announce_to_siblings: 0,
      refresh_descriptors: 0,
      health_check: 0,
      stall_check: 0,
    });
  });

  it('relay: tunnels, bytes, state, receipts, process and libp2p families', async () => {
    const families = await scrape(`${net.relays[0]?.statusUrl}/metrics`);
    checkConventions(families, 'relay');
    for (const name of [
      'meadow_relay_tunnels_total',
      'meadow_relay_payload_bytes_total',
      'meadow_relay_state',
      'meadow_relay_receipts_total',
      'meadow_relay_dns_lookups_total',
      'meadow_relay_dns_queries_total',
      'meadow_relay_dns_query_duration_seconds',
      'meadow_relay_dns_cache_entries',
      'meadow_relay_yield_ceiling_bytes_per_second',
      'meadow_relay_line_queue_delay_seconds',
    ])
      expect(families.has(name), name).toBe(true);
    const tasks = families.get('meadow_relay_background_task_failures_total')?.samples;
    expect(tasks?.map((s) => s.labels.task).sort()).toEqual(['find_gateways', 'publish_descriptor']);
    expect(
      [...families.keys()].some((n) => n.startsWith('libp2p_')),
      'libp2p metrics',
    ).toBe(true);
  });

  it('bootstrap: DHT, process and libp2p families', async () => {
    const families = await scrape(net.bootstrap.metricsUrl);
    checkConventions(families, 'bootstrap');
    expect(families.has('meadow_dht_routing_table_peers')).toBe(true);
    expect(
      families
        .get('meadow_bootstrap_dial_back_requests_total')
        ?.samples.map((s) => s.labels.result)
        .sort(),
    ).toEqual(['answered', 'busy', 'malformed']);
    // Counted from libp2p's open and close events: it must agree with libp2p's own count.
    const connected = families.get('meadow_dht_connected_peers')?.samples[0]?.value;
    const libp2pCount = families
      .get('libp2p_connection_manager_connections')
      ?.samples.filter((s) => Object.values(s.labels).some((v) => v === 'inbound' || v === 'outbound'))
      .reduce((sum, s) => sum + s.value, 0);
    expect(connected).toBeGreaterThanOrEqual(net.relays.length + 1);
    expect(connected).toBe(libp2pCount);
    expect(
      [...families.keys()].some((n) => n.startsWith('libp2p_')),
      'libp2p metrics',
    ).toBe(true);
  });

  it('load generator: its latency histograms and error counters', async () => {
    const families = await scrape(`http://127.0.0.1:${loadgen.port}/metrics`);
    checkConventions(families, 'loadgen');
    expect(families.get('meadow_loadgen_requests_total')?.type).toBe('counter');
    expect(families.get('meadow_loadgen_request_seconds')?.type).toBe('histogram');
    expect(families.get('meadow_loadgen_setup_seconds')?.type).toBe('histogram');
  });
});
