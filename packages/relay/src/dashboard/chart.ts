import { formatBytes, type Html, html } from '@meadow/protocol';

export interface Bar {
  label: string;
  /** Bytes from websites (most of a crawl) and to websites, stacked. */
  fromTarget: number;
  toTarget: number;
}

const HEIGHT = 140;
const AXIS = 56;
const BOTTOM = 20;

/** A stacked bar chart as inline SVG: no script, readable with JavaScript off, each bar titled exactly. */
export function barChart(id: string, caption: string, bars: Bar[], labelEvery: number): Html {
  const max = Math.max(1, ...bars.map((b) => b.fromTarget + b.toTarget));
  const slot = Math.min(40, Math.max(6, Math.floor(560 / Math.max(1, bars.length))));
  const width = AXIS + slot * bars.length + 8;
  const scale = (bytes: number): number => (bytes / max) * (HEIGHT - 10);
  const total = bars.reduce((sum, b) => sum + b.fromTarget + b.toTarget, 0);
  return html`<figure class="chart" id="${id}" data-total-bytes="${total}">
  <svg viewBox="0 0 ${width} ${HEIGHT + BOTTOM}" width="${width}" height="${HEIGHT + BOTTOM}" role="img" aria-label="${caption}">
    <line x1="${AXIS}" y1="${HEIGHT}" x2="${width}" y2="${HEIGHT}" class="axis"/>
    <text x="${AXIS - 4}" y="14" text-anchor="end" class="tick">${formatBytes(max)}</text>
    <text x="${AXIS - 4}" y="${HEIGHT}" text-anchor="end" class="tick">0</text>
    ${bars.map((b, i) => {
      const x = AXIS + i * slot + 1;
      const down = scale(b.fromTarget);
      const up = scale(b.toTarget);
      return html`<g><title>${b.label}: ${formatBytes(b.fromTarget)} from websites, ${formatBytes(b.toTarget)} to websites</title>
      <rect x="${x}" y="${HEIGHT - down}" width="${slot - 2}" height="${down}" class="from"/>
      <rect x="${x}" y="${HEIGHT - down - up}" width="${slot - 2}" height="${up}" class="to"/>
      ${i % labelEvery === 0 ? html`<text x="${x}" y="${HEIGHT + 14}" class="tick">${b.label}</text>` : ''}</g>`;
    })}
  </svg>
  <figcaption>${caption}: <strong>${formatBytes(total)}</strong>
    <span class="key from">■</span> from websites <span class="key to">■</span> to websites</figcaption>
</figure>`;
}
