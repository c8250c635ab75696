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

/** Settlement amounts: whole units with six decimals, and the exact micro-units the ledger holds. */
export function formatMicros(micros: number): string {
  return `${(micros / 1_000_000).toFixed(6)} (${micros.toLocaleString('en')} micro-units)`;
}
