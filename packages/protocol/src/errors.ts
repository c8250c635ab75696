/**
 * Every Meadow error has a stable `code`. Errors that end up on a crawler's wire carry
 * the HTTP status, the RFC 9209 Proxy-Status error and the SOCKS5 REP they map to.
 * The full table is in docs/errors.md; keep both in step.
 */

export interface WireMapping {
  httpStatus: number;
  /** RFC 9209 proxy error type, or undefined where the table says "—". */
  proxyStatus?: string;
  /** SOCKS5 REP code (RFC 1928 §6). */
  socksReply: number;
  /** Whether the gateway may retry the tunnel on another relay. */
  retryable: boolean;
}

export const ERROR_CODES = {
  MEADOW_ERR_AUTH_REQUIRED: { httpStatus: 407, socksReply: 0x02, retryable: false },
  MEADOW_ERR_AUTH_THROTTLED: {
    httpStatus: 429,
    proxyStatus: 'proxy_internal_response',
    socksReply: 0x02,
    retryable: false,
  },
  MEADOW_ERR_BAD_USERNAME: { httpStatus: 400, proxyStatus: 'http_request_error', socksReply: 0x02, retryable: false },
  MEADOW_ERR_BAD_REQUEST: { httpStatus: 400, proxyStatus: 'http_request_error', socksReply: 0x01, retryable: false },
  MEADOW_ERR_QUOTA_EXHAUSTED: {
    httpStatus: 402,
    proxyStatus: 'proxy_internal_response',
    socksReply: 0x02,
    retryable: false,
  },
  MEADOW_ERR_CONCURRENCY_LIMIT: {
    httpStatus: 429,
    proxyStatus: 'proxy_internal_response',
    socksReply: 0x02,
    retryable: false,
  },
  MEADOW_ERR_TARGET_FORBIDDEN: {
    httpStatus: 403,
    proxyStatus: 'destination_ip_prohibited',
    socksReply: 0x02,
    retryable: false,
  },
  MEADOW_ERR_NO_RELAY: { httpStatus: 503, proxyStatus: 'destination_unavailable', socksReply: 0x04, retryable: false },
  MEADOW_ERR_DNS_FAILED: { httpStatus: 502, proxyStatus: 'dns_error', socksReply: 0x04, retryable: false },
  MEADOW_ERR_TARGET_REFUSED: { httpStatus: 502, proxyStatus: 'connection_refused', socksReply: 0x05, retryable: false },
  MEADOW_ERR_TARGET_TIMEOUT: { httpStatus: 504, proxyStatus: 'connection_timeout', socksReply: 0x06, retryable: false },
  MEADOW_ERR_TARGET_UNREACHABLE: {
    httpStatus: 502,
    proxyStatus: 'destination_unavailable',
    socksReply: 0x03,
    retryable: false,
  },
  MEADOW_ERR_RELAY_BUSY: { httpStatus: 503, proxyStatus: 'destination_unavailable', socksReply: 0x01, retryable: true },
  MEADOW_ERR_RELAY_NOT_SERVING: {
    httpStatus: 503,
    proxyStatus: 'destination_unavailable',
    socksReply: 0x01,
    retryable: true,
  },
  /** A household declines the site (`egress.refuseDomains`): another relay may carry it. */
  MEADOW_ERR_RELAY_DECLINED: {
    httpStatus: 403,
    proxyStatus: 'destination_ip_prohibited',
    socksReply: 0x02,
    retryable: true,
  },
  MEADOW_ERR_RELAY_LOST: { httpStatus: 502, proxyStatus: 'proxy_internal_error', socksReply: 0x01, retryable: true },
  MEADOW_ERR_RELAY_TIMEOUT: { httpStatus: 504, proxyStatus: 'connection_timeout', socksReply: 0x06, retryable: true },
  MEADOW_ERR_TUNNEL_PROTOCOL: {
    httpStatus: 502,
    proxyStatus: 'proxy_internal_error',
    socksReply: 0x01,
    retryable: true,
  },
  MEADOW_ERR_METERING_UNAVAILABLE: {
    httpStatus: 503,
    proxyStatus: 'proxy_internal_error',
    socksReply: 0x01,
    retryable: false,
  },
  MEADOW_ERR_INTERNAL: { httpStatus: 500, proxyStatus: 'proxy_internal_error', socksReply: 0x01, retryable: false },
} as const satisfies Record<string, WireMapping>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class MeadowError extends Error {
  readonly code: ErrorCode;
  /** Which hop the error comes from, for Proxy-Status details and logs. */
  readonly hop: 'gateway' | 'relay' | 'target';

  constructor(code: ErrorCode, message: string, options?: { hop?: 'gateway' | 'relay' | 'target'; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MeadowError';
    this.code = code;
    this.hop = options?.hop ?? 'gateway';
  }

  get wire(): WireMapping {
    return ERROR_CODES[this.code];
  }
}

export function isMeadowError(err: unknown): err is MeadowError {
  return err instanceof MeadowError;
}

/**
 * Tunnel ERR frames carry a one-byte reason; this is the registry of those bytes.
 * Numbers are part of the wire protocol: never reuse one.
 */
export const TUNNEL_ERROR_REASONS: Record<number, ErrorCode> = {
  1: 'MEADOW_ERR_DNS_FAILED',
  2: 'MEADOW_ERR_TARGET_REFUSED',
  3: 'MEADOW_ERR_TARGET_TIMEOUT',
  4: 'MEADOW_ERR_TARGET_UNREACHABLE',
  5: 'MEADOW_ERR_TARGET_FORBIDDEN',
  6: 'MEADOW_ERR_RELAY_BUSY',
  7: 'MEADOW_ERR_RELAY_NOT_SERVING',
  8: 'MEADOW_ERR_BAD_REQUEST',
  9: 'MEADOW_ERR_INTERNAL',
  10: 'MEADOW_ERR_RELAY_DECLINED',
};

const REASON_BY_CODE = new Map<ErrorCode, number>(
  Object.entries(TUNNEL_ERROR_REASONS).map(([reason, code]) => [code, Number(reason)]),
);

export function tunnelReasonFor(code: ErrorCode): number {
  return REASON_BY_CODE.get(code) ?? 9;
}

export function codeForTunnelReason(reason: number): ErrorCode {
  return TUNNEL_ERROR_REASONS[reason] ?? 'MEADOW_ERR_TUNNEL_PROTOCOL';
}
