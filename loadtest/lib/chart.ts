import { deflateSync } from 'node:zlib';

/**
 * A bar chart as a PNG, with no dependencies: an RGB raster, a 5×7 bitmap font, and the PNG
 * container (zlib from node:zlib, CRC-32 below). Enough to show ratios next to their targets.
 */
export interface Bar {
  label: string;
  value: number;
  /** Draws a marker where the value should reach. */
  target?: number;
}

// 5×7 glyphs, one number per row, bit 4 = leftmost column.
const FONT: Record<string, number[]> = {
  ' ': [0, 0, 0, 0, 0, 0, 0],
  A: [14, 17, 17, 31, 17, 17, 17],
  B: [30, 17, 17, 30, 17, 17, 30],
  C: [14, 17, 16, 16, 16, 17, 14],
  D: [30, 17, 17, 17, 17, 17, 30],
  E: [31, 16, 16, 30, 16, 16, 31],
  F: [31, 16, 16, 30, 16, 16, 16],
  G: [14, 17, 16, 23, 17, 17, 15],
  H: [17, 17, 17, 31, 17, 17, 17],
  I: [14, 4, 4, 4, 4, 4, 14],
  J: [7, 2, 2, 2, 2, 18, 12],
  K: [17, 18, 20, 24, 20, 18, 17],
  L: [16, 16, 16, 16, 16, 16, 31],
  M: [17, 27, 21, 21, 17, 17, 17],
  N: [17, 17, 25, 21, 19, 17, 17],
  O: [14, 17, 17, 17, 17, 17, 14],
  P: [30, 17, 17, 30, 16, 16, 16],
  Q: [14, 17, 17, 17, 21, 18, 13],
  R: [30, 17, 17, 30, 20, 18, 17],
  S: [15, 16, 16, 14, 1, 1, 30],
  T: [31, 4, 4, 4, 4, 4, 4],
  U: [17, 17, 17, 17, 17, 17, 14],
  V: [17, 17, 17, 17, 17, 10, 4],
  W: [17, 17, 17, 21, 21, 21, 10],
  X: [17, 17, 10, 4, 10, 17, 17],
  Y: [17, 17, 10, 4, 4, 4, 4],
  Z: [31, 1, 2, 4, 8, 16, 31],
  '0': [14, 17, 19, 21, 25, 17, 14],
  '1': [4, 12, 4, 4, 4, 4, 14],
  '2': [14, 17, 1, 2, 4, 8, 31],
  '3': [31, 2, 4, 2, 1, 17, 14],
  '4': [2, 6, 10, 18, 31, 2, 2],
  '5': [31, 16, 30, 1, 1, 17, 14],
  '6': [6, 8, 16, 30, 17, 17, 14],
  '7': [31, 1, 2, 4, 8, 8, 8],
  '8': [14, 17, 17, 14, 17, 17, 14],
  '9': [14, 17, 17, 15, 1, 2, 12],
  '.': [0, 0, 0, 0, 0, 12, 12],
  '-': [0, 0, 0, 31, 0, 0, 0],
  '/': [1, 1, 2, 4, 8, 16, 16],
  ':': [0, 12, 12, 0, 12, 12, 0],
  '(': [2, 4, 8, 8, 8, 4, 2],
  ')': [8, 4, 2, 2, 2, 4, 8],
  '%': [24, 25, 2, 4, 8, 19, 3],
  '=': [0, 0, 31, 0, 31, 0, 0],
  '>': [8, 4, 2, 1, 2, 4, 8],
  '<': [2, 4, 8, 16, 8, 4, 2],
  '+': [0, 4, 4, 31, 4, 4, 0],
  ',': [0, 0, 0, 0, 12, 4, 8],
};

type Rgb = [number, number, number];

class Raster {
  readonly width: number;
  readonly height: number;
  readonly pixels: Buffer;
  constructor(width: number, height: number) {
    this.width = width;
    this.height = height;
    this.pixels = Buffer.alloc(width * height * 3, 255);
  }
  rect(x: number, y: number, w: number, h: number, color: Rgb): void {
    for (let j = Math.max(0, y); j < Math.min(this.height, y + h); j++)
      for (let i = Math.max(0, x); i < Math.min(this.width, x + w); i++)
        this.pixels.set(color, (j * this.width + i) * 3);
  }
  text(x: number, y: number, text: string, color: Rgb, scale = 2): void {
    let cx = x;
    for (const ch of text.toUpperCase()) {
      const glyph = FONT[ch] ?? FONT[' '];
      glyph?.forEach((row, r) => {
        for (let c = 0; c < 5; c++) if (row & (16 >> c)) this.rect(cx + c * scale, y + r * scale, scale, scale, color);
      });
      cx += 6 * scale;
    }
  }
}

/** Horizontal bars grouped under headings; 1.0 is marked, targets are marked in red. */
export function barChartPng(title: string, groups: Array<{ heading: string; bars: Bar[] }>): Buffer {
  const rowHeight = 26;
  const rows = groups.reduce((n, g) => n + g.bars.length + 1, 0);
  const width = 1000;
  const height = 60 + rows * rowHeight + 20;
  const r = new Raster(width, height);
  r.text(20, 16, title, [20, 20, 20]);
  const x0 = 330;
  const max = Math.max(1.2, ...groups.flatMap((g) => g.bars.map((b) => Math.max(b.value, b.target ?? 0)))) * 1.05;
  const scale = (width - x0 - 90) / max;
  let y = 56;
  for (const group of groups) {
    r.text(20, y + 6, group.heading, [40, 40, 120]);
    y += rowHeight;
    for (const bar of group.bars) {
      r.text(36, y + 6, bar.label, [60, 60, 60]);
      const good = bar.target == null || bar.value >= bar.target;
      r.rect(
        x0,
        y + 3,
        Math.max(1, Math.round(bar.value * scale)),
        rowHeight - 8,
        good ? [70, 150, 90] : [210, 140, 50],
      );
      r.text(x0 + Math.round(bar.value * scale) + 6, y + 6, bar.value.toFixed(2), [20, 20, 20]);
      if (bar.target != null) r.rect(x0 + Math.round(bar.target * scale) - 1, y, 3, rowHeight - 2, [200, 30, 30]);
      y += rowHeight;
    }
  }
  r.rect(x0 + Math.round(scale) - 1, 50, 2, height - 60, [120, 120, 120]);
  return encodePng(r);
}

function encodePng(r: Raster): Buffer {
  const raw = Buffer.alloc((r.width * 3 + 1) * r.height);
  for (let y = 0; y < r.height; y++)
    r.pixels.copy(raw, y * (r.width * 3 + 1) + 1, y * r.width * 3, (y + 1) * r.width * 3);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(r.width, 0);
  header.writeUInt32BE(r.height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (CRC_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
