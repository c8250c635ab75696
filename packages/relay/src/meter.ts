/** The relay's own count of payload bytes, kept independently of what any gateway claims. */
export interface MeterTotals {
  tunnels: number;
  bytesToTarget: number;
  bytesFromTarget: number;
}

export class RelayMeter {
  private readonly perGateway = new Map<string, MeterTotals>();
  readonly total: MeterTotals = { tunnels: 0, bytesToTarget: 0, bytesFromTarget: 0 };

  record(gateway: string, bytesToTarget: number, bytesFromTarget: number): void {
    const entry = this.perGateway.get(gateway) ?? { tunnels: 0, bytesToTarget: 0, bytesFromTarget: 0 };
    entry.tunnels++;
    entry.bytesToTarget += bytesToTarget;
    entry.bytesFromTarget += bytesFromTarget;
    this.perGateway.set(gateway, entry);
    this.total.tunnels++;
    this.total.bytesToTarget += bytesToTarget;
    this.total.bytesFromTarget += bytesFromTarget;
  }

  byGateway(): Record<string, MeterTotals> {
    return Object.fromEntries([...this.perGateway].map(([k, v]) => [k, { ...v }]));
  }
}
