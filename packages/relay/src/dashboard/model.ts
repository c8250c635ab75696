import type { LiveCounts } from '@meadow/protocol';
import { startOfDay, wallClock } from '../household/periods.ts';
import type { QualityReport } from '../household/quality.ts';
import type { BytesOnTheirWay, CheckedEarning } from '../receipts/earnings.ts';
import type { Relay } from '../relay.ts';
import type { Bar } from './chart.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** GET /status: state, usage, caps, gateways, quality: what the dashboard shows, as JSON. */
export function statusBody(relay: Relay) {
  const controls = relay.controls;
  const state = controls.state;
  const usage = controls.usage();
  const cap = controls.init.cap;
  return {
    peerId: relay.peerId,
    version: relay.publishedDescriptor?.softwareVersion,
    uptimeSeconds: Math.round((Date.now() - relay.startedAt.getTime()) / 1000),
    state: state.state,
    stateReason: state.reason,
    hibernatingUntil: state.until == null ? null : new Date(state.until).toISOString(),
    timeZone: controls.init.timeZone,
    country: relay.init.country,
    payoutAddress: relay.init.payoutAddress,
    egressAddress: relay.init.egressAddress ?? null,
    activeTunnels: relay.active,
    bytes: { today: usage.today, period: usage.period, allTime: usage.allTime },
    cap:
      cap == null
        ? null
        : {
            bytes: cap.bytes,
            remainingBytes: controls.remainingBytes(),
            periodStart: usage.periodStart == null ? null : new Date(usage.periodStart).toISOString(),
            periodEnd: usage.periodEnd == null ? null : new Date(usage.periodEnd).toISOString(),
          },
    rateLimit: controls.init.rate ?? null,
    yieldToHousehold: relay.yieldStatus,
    schedule: controls.init.schedule,
    meter: meterStatus(relay),
    gateways: relay.gatewayLinks(),
    descriptorPublished: relay.publishedDescriptor != null,
    quality: relay.quality.report(),
    dns: relay.dns,
    /** Sites the household does not share its connection with (`egress.refuseDomains`). */
    refuseDomains: relay.init.refuseDomains ?? [],
  };
}

export type StatusBody = ReturnType<typeof statusBody>;

export interface DashboardModel {
  status: StatusBody;
  quality: QualityReport;
  earnings: CheckedEarning[];
  /** Per gateway, where the bytes carried stand: settled, co-signed awaiting the close, or in no receipt yet. */
  bytes: BytesOnTheirWay[];
  today: Bar[];
  period: { label: string; bars: Bar[] };
}

export function dashboardModel(relay: Relay, now = Date.now()): DashboardModel {
  const status = statusBody(relay);
  const tz = status.timeZone;
  const dayStart = startOfDay(now, tz);
  const hours = relay.usageSeries(Array.from({ length: 25 }, (_, i) => dayStart + i * HOUR_MS));
  const today = hours.map((h) => ({
    label: String(wallClock(h.start, tz).hour).padStart(2, '0'),
    fromTarget: h.bytesFromTarget,
    toTarget: h.bytesToTarget,
  }));
  const capped = status.cap != null && status.cap.periodStart != null && status.cap.periodEnd != null;
  const from = capped ? Date.parse(status.cap?.periodStart as string) : startOfDay(now - 29 * DAY_MS, tz);
  const to = capped ? Date.parse(status.cap?.periodEnd as string) : dayStart + DAY_MS;
  // Days in the household's zone: a day is 23 or 25 hours when the clocks change.
  const days = [startOfDay(from, tz)];
  while ((days.at(-1) as number) < to) days.push(startOfDay((days.at(-1) as number) + DAY_MS + 2 * HOUR_MS, tz));
  const bars: Bar[] = relay.usageSeries(days).map((day) => {
    const w = wallClock(day.start, tz);
    return { label: `${w.month}/${w.day}`, fromTarget: day.bytesFromTarget, toTarget: day.bytesToTarget };
  });
  return {
    status,
    quality: status.quality,
    earnings: relay.earnings(),
    bytes: relay.bytesOnTheirWay(),
    today,
    period: { label: capped ? 'This period, per day' : 'Last 30 days, per day', bars },
  };
}

/** Bytes this process carried, in total and per gateway (the receipts use the persisted all-time counts). */
function meterStatus(relay: Relay): { total: LiveCounts; byGateway: Record<string, LiveCounts> } {
  const byGateway = Object.fromEntries(relay.meter.keys().map((g) => [g, relay.meter.sinceStart(g)]));
  const total = { tunnels: 0, bytesToTarget: 0, bytesFromTarget: 0 };
  for (const counts of Object.values(byGateway)) {
    total.tunnels += counts.tunnels;
    total.bytesToTarget += counts.bytesToTarget;
    total.bytesFromTarget += counts.bytesFromTarget;
  }
  return { total, byGateway };
}
