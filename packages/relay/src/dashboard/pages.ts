import { formatBitRate, formatBytes, formatUnits, type Html, html, shortPeerId } from '@meadow/protocol';
import type { QualityPart } from '../household/quality.ts';
import { earningShare } from '../receipts/earnings.ts';
import { barChart } from './chart.ts';
import type { DashboardModel, StatusBody } from './model.ts';
import { type FieldValues, SETTINGS_FIELDS, type SettingsField } from './settings-form.ts';

export interface PageContext {
  /** Present when signed in: the CSRF token every form must carry. */
  csrf?: string;
  /** A one-line notice at the top (saved, paused, …). */
  notice?: string;
}

const STATE_TEXT: Record<string, string> = {
  serving: 'Sharing',
  paused: 'Paused',
  hibernating: 'Hibernating',
  'outside-schedule': 'Outside schedule',
};

export function layout(title: string, ctx: PageContext, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="htmx-config" content='{"includeIndicatorStyles":false,"allowEval":false}'>
<title>${title} · Meadow relay</title>
<link rel="stylesheet" href="/assets/dashboard.css">
<script src="/assets/htmx.min.js" defer></script>
</head>
<body>
<header>
  <h1><a href="/">Meadow relay</a></h1>
  <nav><a href="/">Overview</a> <a href="/settings">Settings</a></nav>
  ${
    ctx.csrf == null
      ? html`<a class="signin" href="/login">Sign in to make changes</a>`
      : html`<form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="${ctx.csrf}"><button>Sign out</button></form>`
  }
</header>
<main>
${ctx.notice == null ? '' : html`<p class="notice" role="status">${ctx.notice}</p>`}
${body}
</main>
</body>
</html>`;
}

export function overviewPage(model: DashboardModel, ctx: PageContext): Html {
  return layout(
    'Overview',
    ctx,
    html`${liveSection(model.status, ctx)}
<section id="usage"><h2>Bandwidth shared</h2>
  ${barChart('chart-today', 'Today, per hour', model.today, 3)}
  ${barChart('chart-period', model.period.label, model.period.bars, Math.ceil(model.period.bars.length / 10))}
</section>
${earningsSection(model)}
${qualitySection(model)}`,
  );
}

/** The part that changes by the second; htmx re-fetches it every 5 s, and a reload does without JavaScript. */
export function liveSection(s: StatusBody, ctx: PageContext): Html {
  const cap = s.cap;
  const used = s.bytes.period == null ? 0 : s.bytes.period.bytesToTarget + s.bytes.period.bytesFromTarget;
  return html`<section id="live" hx-get="/fragments/live" hx-trigger="every 5s" hx-swap="outerHTML">
  <h2>Now</h2>
  <p class="state state-${s.state}"><strong id="state" data-state="${s.state}">${STATE_TEXT[s.state] ?? s.state}</strong>
    — <span id="state-reason">${s.stateReason}</span>${s.hibernatingUntil == null ? '' : html` until <time datetime="${s.hibernatingUntil}">${localTime(s.hibernatingUntil, s.timeZone)}</time>`}</p>
  ${controlForms(s, ctx)}
  ${
    s.dns.answering
      ? ''
      : html`<p id="dns-problem" class="problem" role="alert"><strong>Your DNS servers do not answer</strong>
      (${s.dns.servers.join(', ')}, silent since <time datetime="${s.dns.silentSince}">${localTime(s.dns.silentSince, s.timeZone)}</time>).
      Websites are found by name, so gateways send those tunnels to other relays until the servers answer again.
      Check your router, or set <code>dns.servers</code> in the config; <code>meadow relay doctor</code> tests them.</p>`
  }
  <dl class="figures">
    <div><dt>Active tunnels</dt><dd id="active-tunnels" data-value="${s.activeTunnels}">${s.activeTunnels}</dd></div>
    <div><dt>Shared today</dt><dd id="bytes-today" data-bytes="${s.bytes.today.bytesToTarget + s.bytes.today.bytesFromTarget}">${formatBytes(s.bytes.today.bytesToTarget + s.bytes.today.bytesFromTarget)}</dd></div>
    <div><dt>Shared in all</dt><dd id="bytes-all" data-bytes="${s.bytes.allTime.bytesToTarget + s.bytes.allTime.bytesFromTarget}">${formatBytes(s.bytes.allTime.bytesToTarget + s.bytes.allTime.bytesFromTarget)}</dd></div>
    <div><dt>Country</dt><dd>${s.country}</dd></div>
  </dl>
  <h3>Caps</h3>
  ${
    cap == null
      ? html`<p id="cap">No data cap: <a href="/settings">set one</a>.</p>`
      : html`<p id="cap" data-cap-bytes="${cap.bytes}" data-remaining-bytes="${cap.remainingBytes}">
      <meter min="0" max="${cap.bytes}" value="${used}" high="${cap.bytes * 0.9}">${formatBytes(used)}</meter>
      ${formatBytes(used)} of ${formatBytes(cap.bytes)} used this period; <strong>${formatBytes(cap.remainingBytes ?? 0)} remaining</strong>
      until <time datetime="${cap.periodEnd}">${localTime(cap.periodEnd, s.timeZone)}</time>.</p>`
  }
  <p id="rate">${
    s.rateLimit == null
      ? 'No rate limit.'
      : html`Rate limit: ${formatBitRate(s.rateLimit.fromTargetBytesPerSecond)} from websites, ${formatBitRate(s.rateLimit.toTargetBytesPerSecond)} to websites.`
  }</p>
  <p id="yield" data-above-ms="${s.yieldToHousehold.aboveDelayMs}">${yieldLine(s.yieldToHousehold)}</p>
  <p id="refused-domains" data-count="${s.refuseDomains.length}">${
    s.refuseDomains.length === 0
      ? html`Every site may be crawled from your address (<code>egress.refuseDomains</code> keeps sites you use yourself out).`
      : html`Sites you keep to yourself (and every name under them): ${s.refuseDomains.join(', ')}.`
  }</p>
  <h3>Connected gateways</h3>
  ${
    s.gateways.length === 0
      ? html`<p id="gateways" data-count="0">None yet. If this lasts, run <code>meadow relay doctor</code>.</p>`
      : html`<table id="gateways" data-count="${s.gateways.length}"><thead><tr><th>Gateway</th><th title="Gateways that share sticky sessions form one group, which gateways.keep counts as one">Group</th><th>Linked since</th><th>Tunnels open now</th></tr></thead><tbody>
      ${s.gateways.map((g) => html`<tr><td title="${g.peerId}"><code>${shortPeerId(g.peerId)}</code>${g.onTrial ? html` <span class="hint" title="Tried beside the gateways kept: if it carries the least, it is let go">on trial</span>` : ''}${g.leaving ? html` <span class="hint" title="Let go after a trial: it opens no new tunnels, and the link closes when its open ones end">leaving</span>` : ''}</td><td>${g.group}</td><td>${localTime(g.since, s.timeZone)}</td><td>${g.activeTunnels}</td></tr>`)}
      </tbody></table>`
  }
</section>`;
}

function controlForms(s: StatusBody, ctx: PageContext): Html {
  if (ctx.csrf == null) return html`<p class="hint"><a href="/login">Sign in</a> to pause or resume.</p>`;
  const action = s.state === 'paused' ? 'resume' : 'pause';
  return html`<form method="post" action="/${action}" class="inline"><input type="hidden" name="csrf" value="${ctx.csrf}"><button id="${action}">${action === 'pause' ? 'Pause sharing' : 'Resume sharing'}</button></form>`;
}

const EPOCHS_SHOWN = 48;

function earningsSection(model: DashboardModel): Html {
  const verified = model.earnings.filter((e) => e.proofVerified);
  const total = verified.reduce((sum, e) => sum + e.micros, 0);
  const shown = model.earnings.slice(-EPOCHS_SHOWN).reverse();
  return html`<section id="earnings"><h2>Earnings</h2>
  <p class="hint">Each settled epoch is checked on this machine: the gateway's signature on the epoch, both signatures on your receipt, and its inclusion proof against the epoch's published Merkle root. Your reward is your share of all the relays' co-signed bytes in the epoch, times the relays' pool: what customers paid for exactly those bytes, less the protocol fee. Rewards are in units of the settlement currency, six decimals (the ledger counts micro-units).</p>
  ${bytesOnTheirWay(model)}
  ${
    model.earnings.length === 0
      ? html`<p>No epoch has been settled yet. Gateways close an epoch every hour by default.</p>`
      : html`<h3>Settled epochs</h3><table><thead><tr><th>Epoch</th><th>Gateway</th><th>Closed</th><th>Co-signed bytes</th><th>Reward (units)</th><th>Proof</th></tr></thead><tbody>
      ${shown.map(
        (
          e,
        ) => html`<tr class="epoch" data-epoch="${e.epoch}" data-gateway="${e.gateway}" data-bytes="${e.bytes}" data-micros="${e.micros}" data-epoch-bytes="${e.epochBytes}" data-pool-micros="${e.poolMicros}" data-verified="${e.proofVerified}">
        <td>${e.epoch}</td><td title="${e.gateway}"><code>${shortPeerId(e.gateway)}</code></td><td>${localTime(new Date(e.closedAt).toISOString(), model.status.timeZone)}</td>
        <td>${formatBytes(e.bytes)} <span class="hint">(${earningShare(e)} of ${formatBytes(e.epochBytes)})</span></td><td title="${earningShare(e)} of the relays' pool, ${formatUnits(e.poolMicros)}">${formatUnits(e.micros)}</td>
        <td>${e.proofVerified ? html`<span class="ok" title="root ${e.merkleRoot}">✓</span>` : html`<span class="bad">✗ ${e.problem}</span>`}</td></tr>`,
      )}
      </tbody><tfoot>${
        model.earnings.length > shown.length
          ? html`<tr><td colspan="6" class="hint">The latest ${shown.length} of ${model.earnings.length} epochs; all of them at <a href="/earnings">/earnings</a> and in <code>meadow relay earnings</code>.</td></tr>`
          : ''
      }<tr><td colspan="4">Total of verified epochs</td><td id="earnings-total" data-micros="${total}">${formatUnits(total)}</td><td></td></tr></tfoot></table>`
  }
</section>`;
}

/** Every byte carried for each gateway, by where it stands on its way to a reward. */
function bytesOnTheirWay(model: DashboardModel): Html {
  if (model.bytes.length === 0) return html``;
  return html`<h3>Where every byte you carried stands</h3>
  <table id="bytes-on-their-way"><thead><tr><th>Gateway</th><th>Carried</th><th>In settled epochs</th><th>Co-signed, paid when the epoch closes</th><th>Waiting for a receipt</th></tr></thead><tbody>
    ${model.bytes.map(
      (
        b,
      ) => html`<tr class="gateway-bytes" data-gateway="${b.gateway}" data-carried="${b.carriedBytes}" data-settled="${b.settledBytes}" data-awaiting-close="${b.awaitingCloseBytes}" data-awaiting-receipt="${b.awaitingReceiptBytes}">
      <td title="${b.gateway}"><code>${shortPeerId(b.gateway)}</code></td><td>${formatBytes(b.carriedBytes)}</td><td>${formatBytes(b.settledBytes)}</td>
      <td>${formatBytes(b.awaitingCloseBytes)}${b.awaitingCloseBytes > 0 && b.openEpoch > 0 ? html` <span class="hint">(epoch ${b.openEpoch})</span>` : ''}</td><td>${formatBytes(b.awaitingReceiptBytes)}</td></tr>`,
    )}
  </tbody></table>
  <p class="hint">A gateway co-signs what you carried in a receipt every 30 s (its default), and pays it when its epoch closes (hourly by default). Bytes stay waiting for a receipt while the gateway cannot reach this relay; a gateway that counted less than you did shows the difference here too, and you signed its receipt under protest.</p>`;
}

function qualitySection(model: DashboardModel): Html {
  const q = model.quality;
  const part = (id: string, name: string, p: QualityPart, shown: string): Html =>
    html`<tr id="${id}" class="${p.low ? 'low' : ''}"><th>${name}</th><td>${shown}</td><td>${p.value == null ? '—' : `×${p.factor.toFixed(2)}`}</td><td>${p.reason ?? (p.value == null ? 'not measured yet' : 'good')}</td></tr>`;
  return html`<section id="quality"><h2>Quality score: <span id="quality-score" data-score="${q.score ?? ''}">${q.score == null ? 'not measured yet' : `${Math.round(q.score * 100)} / 100`}</span></h2>
  <p class="hint">Gateways send more traffic to relays that connect reliably and fast and stay online. The score multiplies the three parts below.</p>
  <table><thead><tr><th>Part</th><th>Measured</th><th>Counts</th><th>Why</th></tr></thead><tbody>
  ${part('quality-success', 'Success rate', q.successRate, q.successRate.value == null ? '—' : `${(q.successRate.value * 100).toFixed(1)}% of ${q.successRate.attempts}`)}
  ${part('quality-latency', 'Connect latency', q.connectLatencyMs, q.connectLatencyMs.value == null ? '—' : `${Math.round(q.connectLatencyMs.value)} ms median`)}
  ${part('quality-uptime', 'Uptime', q.uptime, q.uptime.value == null ? '—' : `${(q.uptime.value * 100).toFixed(1)}% since ${q.uptime.windowDays >= 7 ? '7 days ago' : 'first start'}`)}
  </tbody></table>
</section>`;
}

export function settingsPage(
  s: StatusBody,
  values: FieldValues | undefined,
  errors: Record<string, string>,
  ctx: PageContext,
): Html {
  const disabled = ctx.csrf == null || values == null;
  const field = (name: SettingsField, label: string, input: Html, help: string): Html => {
    const error = errors[name];
    return html`<div class="field${error == null ? '' : ' invalid'}"><label for="${name}">${label}</label>${input}
    ${error == null ? '' : html`<p class="error" id="error-${name}" role="alert">${name}: ${error}</p>`}<p class="help">${help}</p></div>`;
  };
  const v = (name: SettingsField): string => values?.[name] ?? '';
  const text = (name: SettingsField, extra = ''): Html =>
    html`<input type="text" id="${name}" name="${name}" value="${v(name)}" ${extra ? html`inputmode="${extra}"` : ''} aria-invalid="${errors[name] != null}">`;
  const others = Object.entries(errors).filter(([key]) => !(SETTINGS_FIELDS as readonly string[]).includes(key));
  const form = html`${others.map(([key, message]) => html`<p class="error" role="alert">${key}: ${message}</p>`)}
<form method="post" action="/settings" id="settings-form">
  <input type="hidden" name="csrf" value="${ctx.csrf ?? ''}">
  <fieldset ${disabled ? html`disabled` : ''}>
  <legend>Data cap</legend>
  ${field('dataCap.bytes', 'Cap (GB per period)', text('dataCap.bytes', 'decimal'), '0 for no cap. Both directions count. When it is reached the relay hibernates until the next period.')}
  ${field(
    'dataCap.period',
    'Period',
    html`<select id="dataCap.period" name="dataCap.period">${['day', 'week', 'month'].map((p) => html`<option value="${p}" ${v('dataCap.period') === p ? html`selected` : ''}>${p}</option>`)}</select>`,
    'How often the cap starts again.',
  )}
  ${field('dataCap.start', 'Period starts', text('dataCap.start'), '"HH:MM" for a day, "mon HH:MM" for a week, "1 HH:MM" for a month (day 1-28), in your time zone.')}
  </fieldset>
  <fieldset ${disabled ? html`disabled` : ''}>
  <legend>Rate limits</legend>
  ${field('rateLimit.fromTargetBytesPerSecond', 'From websites (Mbit/s)', text('rateLimit.fromTargetBytesPerSecond', 'decimal'), 'What the relay downloads for crawlers, and uploads again. 0 = no limit. Applies at once, also to open tunnels.')}
  ${field('rateLimit.toTargetBytesPerSecond', 'To websites (Mbit/s)', text('rateLimit.toTargetBytesPerSecond', 'decimal'), 'What the relay sends to websites. 0 = no limit.')}
  </fieldset>
  <fieldset ${disabled ? html`disabled` : ''}>
  <legend>Schedule</legend>
  ${field('schedule.timezone', 'Time zone', text('schedule.timezone'), 'An IANA zone like Europe/Berlin; days, periods and the schedule use it.')}
  ${field('schedule.windows', 'Share only during', html`<textarea id="schedule.windows" name="schedule.windows" rows="4" aria-invalid="${errors['schedule.windows'] != null}">${v('schedule.windows')}</textarea>`, 'One window per line, like "mon-fri 18:00-23:30" or "sat,sun 09:00-22:00" or "daily 01:00-07:00". Empty = always.')}
  </fieldset>
  <button id="save" ${disabled ? html`disabled` : ''}>Save and apply</button>
</form>`;
  return layout(
    'Settings',
    ctx,
    html`<section><h2>Settings</h2>
  <p>Now: <strong id="state" data-state="${s.state}">${STATE_TEXT[s.state] ?? s.state}</strong> — ${s.stateReason}. ${controlForms(s, ctx)}</p>
  ${values == null ? html`<p class="hint">This relay was started without a config file, so its settings cannot be changed here.</p>` : ''}
  ${ctx.csrf == null ? html`<p class="hint"><a href="/login">Sign in</a> with the control token to change settings.</p>` : ''}
  <p class="hint">Saved to the config file and applied at once, without a restart.</p>
  ${form}</section>`,
  );
}

export function loginPage(error: string | undefined, tokenPath: string): Html {
  return layout(
    'Sign in',
    {},
    html`<section><h2>Sign in</h2>
  <p>Changes need the control token. <code>meadow relay start</code> printed it; it is also in <code>${tokenPath}</code> (readable only by the relay's user).</p>
  ${error == null ? '' : html`<p class="error" role="alert" id="login-error">${error}</p>`}
  <form method="post" action="/login"><label for="token">Control token</label>
  <input type="password" id="token" name="token" autocomplete="current-password" required><button id="signin">Sign in</button></form></section>`,
  );
}

function localTime(iso: string | null | undefined, timeZone: string): string {
  if (iso == null) return '';
  return new Date(iso).toLocaleString('en-GB', { timeZone, dateStyle: 'medium', timeStyle: 'short' });
}

/** Yielding to the household's own traffic, in a sentence. */
function yieldLine(y: StatusBody['yieldToHousehold']): Html {
  if (y.aboveDelayMs === 0)
    return html`Your own traffic first is off: the relay never slows down for it (<code>rateLimit.yieldAboveDelayMs</code>).`;
  const now =
    y.ceilingBytesPerSecond != null
      ? html`Now: <strong>holding back to ${formatBitRate(y.ceilingBytesPerSecond)}</strong>, your line being ${Math.round(y.queueDelayMs ?? 0)} ms slower than when empty.`
      : y.queueDelayMs == null
        ? html`Now: nothing to hold back for.`
        : html`Now: not holding back (your line is ${Math.round(y.queueDelayMs)} ms slower than when empty).`;
  return html`Your own traffic first: when the relay's traffic makes your line more than ${y.aboveDelayMs} ms slower, it slows down until it does not. ${now}`;
}
