/** Query errors that mean no server responded at all (a server's NXDOMAIN or SERVFAIL is a response). */
export const NO_RESPONSE_CODES = new Set(['ETIMEOUT', 'ECONNREFUSED']);

export interface DnsHealthInit {
  /** Unanswered queries in a row, with no response at all for `silentMs`, before the servers count as silent. */
  silentQueries?: number;
  silentMs?: number;
  now?: () => number;
  /** Called when the servers fall silent and when they answer again. */
  onChange?: (report: DnsHealthReport) => void;
}

export interface DnsHealthReport {
  answering: boolean;
  /** When the last response came, if the servers are silent now. */
  silentSince: number | null;
  /** The error of the last query no server responded to. */
  lastError: string | null;
}

/**
 * Whether the relay's DNS servers respond at all. One name whose servers never answer is the
 * website's failure, and the crawler is told so. Every query going unanswered for a while is the
 * relay's: its servers (the household's router, or `dns.servers`) are down or wrong, and tunnels to
 * names should go to another relay instead of failing as if the websites were gone.
 */
export class DnsHealth {
  private readonly silentQueries: number;
  private readonly silentMs: number;
  private readonly now: () => number;
  private readonly onChange: ((report: DnsHealthReport) => void) | undefined;
  private lastResponseAt: number;
  private unansweredInARow = 0;
  private lastError: string | null = null;
  private silent = false;

  constructor(init: DnsHealthInit = {}) {
    this.silentQueries = init.silentQueries ?? 3;
    this.silentMs = init.silentMs ?? 10_000;
    this.now = init.now ?? Date.now;
    this.onChange = init.onChange;
    this.lastResponseAt = this.now();
  }

  get answering(): boolean {
    return !this.silent;
  }

  /** A query's outcome: undefined for an answer, else its error code. */
  record(code: string | undefined): void {
    if (code === 'ECANCELLED') return; // the relay stopping, not the servers
    if (code == null || !NO_RESPONSE_CODES.has(code)) {
      this.lastResponseAt = this.now();
      this.unansweredInARow = 0;
      if (this.silent) {
        this.silent = false;
        this.onChange?.(this.report());
      }
      return;
    }
    this.unansweredInARow++;
    this.lastError = code;
    if (
      !this.silent &&
      this.unansweredInARow >= this.silentQueries &&
      this.now() - this.lastResponseAt >= this.silentMs
    ) {
      this.silent = true;
      this.onChange?.(this.report());
    }
  }

  report(): DnsHealthReport {
    return {
      answering: !this.silent,
      silentSince: this.silent ? this.lastResponseAt : null,
      lastError: this.silent ? this.lastError : null,
    };
  }
}
