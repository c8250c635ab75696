/** Human figures for people: 1.23 MB (decimal units, as bandwidth is billed). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(2)} ${units[unit]}`;
}

/** A household's rate limit as it buys bandwidth: Mbit/s, or "no limit" for 0. */
export function formatBitRate(bytesPerSecond: number): string {
  return bytesPerSecond === 0 ? 'no limit' : `${Number(((bytesPerSecond * 8) / 1e6).toFixed(2))} Mbit/s`;
}

/** A peer id short enough for a table or a line: its first 8 and last 4 characters. */
export function shortPeerId(peerId: string): string {
  return `${peerId.slice(0, 8)}…${peerId.slice(-4)}`;
}

/** A settlement amount in whole units, six decimals (the ledger holds micro-units). */
export function formatUnits(micros: number): string {
  return (micros / 1_000_000).toFixed(6);
}

/** Settlement amounts: whole units with six decimals, and the exact micro-units the ledger holds. */
export function formatMicros(micros: number): string {
  return `${formatUnits(micros)} (${micros.toLocaleString('en')} micro-units)`;
}
