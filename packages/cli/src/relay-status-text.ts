import { formatBitRate, formatBytes, formatMicros, shortPeerId } from '@meadow/protocol';
import { type BytesOnTheirWay, type CheckedEarning, type StatusBody, WEEKDAYS } from '@meadow/relay';

const STATE_TEXT: Record<string, string> = {
  serving: 'sharing',
  paused: 'paused',
  hibernating: 'hibernating',
  'outside-schedule': 'outside its sharing hours',
};

/** `meadow relay status` for people: what the dashboard's first screen says, one line per subject. */
export function relayStatusText(
  s: StatusBody,
  earnings: CheckedEarning[],
  dashboardUrl: string,
  bytes: BytesOnTheirWay[] = [],
): string {
  const when = (iso: string): string => localTime(iso, s.timeZone);
  const lines: Array<[string, string]> = [
    ['relay', `${s.peerId} (${s.country}${s.egressAddress == null ? '' : `, egress ${s.egressAddress}`})`],
    [
      'state',
      `${STATE_TEXT[s.state] ?? s.state}: ${s.stateReason}${s.hibernatingUntil == null ? '' : `, until ${when(s.hibernatingUntil)}`}`,
    ],
    ['tunnels', `${s.activeTunnels} open now`],
    [
      'dns',
      s.dns.answering
        ? `${s.dns.servers.join(', ')} answering`
        : `${s.dns.servers.join(', ')} silent since ${when(s.dns.silentSince)} (${s.dns.lastError}): tunnels to names go to other relays; check the router or dns.servers (meadow relay doctor tests them)`,
    ],
    ['shared', `today ${usage(s.bytes.today)}; in all ${usage(s.bytes.allTime)}`],
    ['declined', s.refuseDomains.length === 0 ? 'no sites (egress.refuseDomains)' : s.refuseDomains.join(', ')],
  ];
  const cap = s.cap;
  if (cap == null) lines.push(['data cap', 'none (set dataCap in the config, or on the dashboard)']);
  else {
    const used = s.bytes.period == null ? 0 : s.bytes.period.bytesToTarget + s.bytes.period.bytesFromTarget;
    const end = cap.periodEnd == null ? '' : ` until ${when(cap.periodEnd)}`;
    lines.push([
      'data cap',
      `${formatBytes(used)} of ${formatBytes(cap.bytes)} used this period, ${formatBytes(cap.remainingBytes ?? 0)} left${end}`,
    ]);
  }
  const rate = s.rateLimit;
  lines.push([
    'rate limit',
    rate == null || (rate.fromTargetBytesPerSecond === 0 && rate.toTargetBytesPerSecond === 0)
      ? 'none'
      : `${formatBitRate(rate.fromTargetBytesPerSecond)} from websites, ${formatBitRate(rate.toTargetBytesPerSecond)} to websites`,
  ]);
  const y = s.yieldToHousehold;
  lines.push([
    'own traffic',
    y.aboveDelayMs === 0
      ? 'the relay never slows down for it (rateLimit.yieldAboveDelayMs: 0)'
      : y.ceilingBytesPerSecond != null
        ? `holding back to ${formatBitRate(y.ceilingBytesPerSecond)}: your line is ${Math.round(y.queueDelayMs ?? 0)} ms slower than when empty (more than ${y.aboveDelayMs} ms makes the relay slow down)`
        : `first: more than ${y.aboveDelayMs} ms slower than empty makes the relay slow down${y.queueDelayMs == null ? '' : ` (now ${Math.round(y.queueDelayMs)} ms)`}`,
  ]);
  lines.push([
    'schedule',
    s.schedule.length === 0
      ? 'always sharing'
      : `${s.schedule.map((w) => `${w.days.map((d) => WEEKDAYS[d]).join(',')} ${clock(w.fromMinute)}-${clock(w.toMinute)}`).join('; ')} (${s.timeZone})`,
  ]);
  lines.push([
    'gateways',
    s.gateways.length === 0
      ? 'none linked now; the relay keeps looking (if this lasts, run: meadow relay doctor)'
      : s.gateways
          .map(
            (g) =>
              `${shortPeerId(g.peerId)} linked since ${when(g.since)}, ${g.activeTunnels} open now${g.onTrial ? ' (on trial)' : ''}${g.leaving ? ' (let go: closes when its tunnels end)' : ''}`,
          )
          .join('; '),
  ]);
  lines.push(['listed', s.descriptorPublished ? 'descriptor published in the DHT' : 'not yet published in the DHT']);
  lines.push(['quality', quality(s.quality)]);
  lines.push(['earned', earned(earnings)]);
  if (bytes.length > 0) lines.push(['to be paid', toBePaid(bytes)]);
  lines.push(['payout', s.payoutAddress]);
  lines.push(['dashboard', `${dashboardUrl}/ (caps, schedule, earnings)`]);
  const width = Math.max(...lines.map(([label]) => label.length));
  return `${lines.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n')}\n`;
}

function usage(u: { bytesToTarget: number; bytesFromTarget: number; tunnels: number }): string {
  return `${formatBytes(u.bytesToTarget + u.bytesFromTarget)} in ${u.tunnels} tunnel${u.tunnels === 1 ? '' : 's'}`;
}

function earned(epochs: CheckedEarning[]): string {
  if (epochs.length === 0) return 'nothing settled yet (gateways settle at the end of each epoch)';
  const checked = epochs.filter((e) => e.proofVerified);
  const failed = epochs.length - checked.length;
  const total = checked.reduce((sum, e) => sum + e.micros, 0);
  const plural = checked.length === 1 ? '' : 's';
  return `${formatMicros(total)} in ${checked.length} settled epoch${plural}, each proof checked here${failed === 0 ? '' : `; ${failed} failed the check (meadow relay earnings says why)`}`;
}

function toBePaid(bytes: BytesOnTheirWay[]): string {
  const awaitingClose = bytes.reduce((sum, b) => sum + b.awaitingCloseBytes, 0);
  const awaitingReceipt = bytes.reduce((sum, b) => sum + b.awaitingReceiptBytes, 0);
  if (awaitingClose === 0 && awaitingReceipt === 0) return 'nothing: every byte carried is in a settled epoch';
  return `${formatBytes(awaitingClose)} co-signed, paid when the epoch closes; ${formatBytes(awaitingReceipt)} waiting for a gateway's receipt`;
}

function quality(q: StatusBody['quality']): string {
  if (q.score == null) return 'not measured yet';
  const parts = [
    q.successRate.value == null
      ? 'no connections yet'
      : `${(q.successRate.value * 100).toFixed(1)}% of ${q.successRate.attempts} connections worked`,
    q.connectLatencyMs.value == null ? null : `median connect ${q.connectLatencyMs.value.toFixed(1)} ms`,
    q.uptime.value == null
      ? null
      : `online ${(q.uptime.value * 100).toFixed(1)}% since ${q.uptime.windowDays >= 7 ? '7 days ago' : 'first start'}`,
  ].filter((p) => p != null);
  const low = [q.successRate, q.connectLatencyMs, q.uptime].flatMap((p) =>
    p.low && p.reason != null ? [p.reason] : [],
  );
  return `${Math.round(q.score * 100)} / 100 (${parts.join(', ')})${low.length === 0 ? '' : `; low: ${low.join('; ')}`}`;
}

function clock(minute: number): string {
  return `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
}

function localTime(iso: string, timeZone: string): string {
  return `${new Date(iso).toLocaleString('sv-SE', { timeZone, hour12: false }).slice(0, 16)} ${timeZone}`;
}
