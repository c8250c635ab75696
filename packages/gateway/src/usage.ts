export interface UsageTotals {
  tunnels: number;
  bytesToTarget: number;
  bytesFromTarget: number;
}

/** Payload bytes per customer and per relay, as the gateway measured them. */
export class UsageMeter {
  private readonly customers = new Map<string, UsageTotals>();
  private readonly relays = new Map<string, UsageTotals>();

  record(customer: string, relay: string, bytesToTarget: number, bytesFromTarget: number): void {
    add(this.customers, customer, bytesToTarget, bytesFromTarget);
    add(this.relays, relay, bytesToTarget, bytesFromTarget);
  }

  snapshot(): { customers: Record<string, UsageTotals>; relays: Record<string, UsageTotals> } {
    return { customers: Object.fromEntries(this.customers), relays: Object.fromEntries(this.relays) };
  }
}

function add(map: Map<string, UsageTotals>, key: string, up: number, down: number): void {
  const entry = map.get(key) ?? { tunnels: 0, bytesToTarget: 0, bytesFromTarget: 0 };
  entry.tunnels++;
  entry.bytesToTarget += up;
  entry.bytesFromTarget += down;
  map.set(key, entry);
}
