import { formatBytes, formatUnits, type Html, html, shortPeerId } from '@meadow/protocol';
import type { NetworkReport } from './network-health.ts';

const CSS = `body{margin:0;font:15px/1.45 system-ui,sans-serif;color:#1d2320;background:#f6f8f6}
main{max-width:1000px;margin:0 auto;padding:1rem 1.2rem 3rem}h1{font-size:1.3rem}
section{background:#fff;border:1px solid #d9dfda;border-radius:8px;padding:.4rem 1.2rem 1rem;margin:1rem 0}
.figures{display:flex;flex-wrap:wrap;gap:2rem}.figures dt{color:#5c665f;font-size:.85rem}.figures dd{margin:0;font-size:1.6rem;font-weight:600}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #d9dfda}
td.n,th.n{text-align:right}.hint{color:#5c665f;font-size:.88rem}meter{width:260px}`;

/** The gateway's network health page: server-rendered, refreshed by the browser every 10 s, no script. */
export function networkPage(r: NetworkReport, peerId: string): Html {
  const u = r.utilisation;
  const countries = Object.entries(r.relays.byCountry).sort(([, a], [, b]) => b - a);
  const recentRevenue = r.revenue.epochs.reduce((sum, e) => sum + e.revenueMicros, 0);
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Network health · Meadow gateway</title><link rel="stylesheet" href="/assets/network.css"></head>
<body><main>
<h1>Meadow network health</h1>
<p class="hint">Gateway <code>${peerId}</code> · ${r.generatedAt} · JSON at <a href="/network">/network</a></p>
<section><dl class="figures">
  <div><dt>Active relays</dt><dd id="active-relays" data-value="${r.relays.active}">${r.relays.active}</dd></div>
  <div><dt>Utilisation (${u.windowSeconds} s)</dt><dd id="utilisation" data-ratio="${u.ratio ?? ''}">${u.ratio == null ? '—' : `${(u.ratio * 100).toFixed(2)}%`}</dd></div>
  <div><dt>Revenue, last ${r.revenue.epochs.length} epochs</dt><dd id="recent-revenue" data-micros="${recentRevenue}">${formatUnits(recentRevenue)}</dd></div>
  <div><dt>Active customers</dt><dd id="active-customers" data-value="${r.customers.active}">${r.customers.active}</dd></div>
</dl></section>
<section id="relays"><h2>Active relays by country</h2>
${
  countries.length === 0
    ? html`<p>No routable relay.</p>`
    : html`<table><thead><tr><th>Country</th><th class="n">Relays</th></tr></thead><tbody>
  ${countries.map(([c, n]) => html`<tr data-country="${c}" data-count="${n}"><td>${c}</td><td class="n">${n}</td></tr>`)}</tbody></table>`
}
<p class="hint">${r.relays.linked} relays linked, ${r.relays.active} routable now (serving, healthy, described).</p></section>
<section id="relay-list"><h2>Relays</h2>
<p class="hint">${r.relays.list.length < r.relays.linked ? `The ${r.relays.list.length} of ${r.relays.linked} linked relays that carried most` : 'Every linked relay'}, most bytes since this gateway started first (all of them: <code>/status</code>). Score: success rate ÷ (1 + connect latency / 200 ms) ÷ (1 + load), as the gateway ranks relays; scores within 10% share tunnels at random.</p>
${
  r.relays.list.length === 0
    ? html`<p>No relay has linked to this gateway yet.</p>`
    : html`<table><thead><tr><th>Relay</th><th>Country</th><th>State</th><th class="n">Open tunnels</th><th class="n">Tunnels</th><th class="n">Bytes</th><th class="n">Success</th><th class="n">Connect</th><th class="n">Score</th></tr></thead><tbody>
  ${r.relays.list.map(
    (
      x,
    ) => html`<tr class="relay" data-peer="${x.peerId}" data-tunnels="${x.tunnels}" data-bytes="${x.bytes}" data-state="${x.state}">
    <td title="${x.peerId}"><code>${shortPeerId(x.peerId)}</code></td><td>${x.country}</td><td>${x.state}</td>
    <td class="n">${x.activeTunnels}</td><td class="n">${x.tunnels}</td><td class="n">${formatBytes(x.bytes)}</td>
    <td class="n">${(x.successRate * 100).toFixed(1)}%</td><td class="n">${x.connectLatencyMs.toFixed(1)} ms</td><td class="n">${x.score.toFixed(3)}</td></tr>`,
  )}</tbody></table>`
}</section>
<section id="utilisation-detail"><h2>Utilisation</h2>
<p><meter min="0" max="1" value="${u.ratio ?? 0}"></meter> ${formatBytes(u.servedBytesPerSecond)}/s served of ${formatBytes(u.advertisedBytesPerSecond)}/s advertised by the active relays,
over the last ${u.windowSeconds} s (${formatBytes(u.servedBytes)}).</p></section>
<section id="revenue"><h2>Revenue per epoch</h2>
<p class="hint">In units of the settlement currency. From the ledger's signed epoch headers; open epoch: ${r.revenue.openEpoch}. Anyone can re-check them with <code>meadow ledger verify</code>.</p>
${
  r.revenue.epochs.length === 0
    ? html`<p>No epoch closed yet.</p>`
    : html`<table><thead><tr><th>Epoch</th><th>Ended</th><th class="n">Revenue</th><th class="n">Fee</th><th class="n">Relays' pool</th><th class="n">Relays paid</th><th class="n">Co-signed bytes</th></tr></thead><tbody>
  ${r.revenue.epochs.map(
    (
      e,
    ) => html`<tr class="epoch" data-epoch="${e.epoch}" data-revenue-micros="${e.revenueMicros}" data-pool-micros="${e.providerPoolMicros}" data-bytes="${e.coSignedBytes}">
    <td>${e.epoch}</td><td>${e.endedAt}</td><td class="n">${formatUnits(e.revenueMicros)}</td><td class="n">${formatUnits(e.feeMicros)}</td>
    <td class="n">${formatUnits(e.providerPoolMicros)}</td><td class="n">${e.relaysPaid}</td><td class="n">${formatBytes(e.coSignedBytes)}</td></tr>`,
  )}</tbody></table>`
}</section>
<section id="customers"><h2>Customer usage</h2>
<table><thead><tr><th>Customer</th><th class="n">Open tunnels</th><th class="n">Tunnels</th><th class="n">Bytes</th><th class="n">Last 5 min</th></tr></thead><tbody>
${r.customers.list.map(
  (
    c,
  ) => html`<tr data-customer="${c.name}" data-tunnels="${c.tunnels}" data-bytes="${c.bytes}" data-active="${c.active}">
  <td>${c.name}${c.active ? ' ●' : ''}</td><td class="n">${c.activeTunnels}</td><td class="n">${c.tunnels}</td><td class="n">${formatBytes(c.bytes)}</td><td class="n">${formatBytes(c.bytesInWindow)}</td></tr>`,
)}</tbody></table></section>
</main></body></html>`;
}

export const NETWORK_CSS = CSS;
