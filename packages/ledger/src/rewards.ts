/** docs/rewards.md: revenue from customer bytes, a protocol fee, and the provider pool split by co-signed bytes. */
export interface RevenueLine {
  customer: string;
  bytes: number;
  priceMicrosPerGb: number;
}

export interface RewardLine {
  relay: string;
  bytes: number;
  micros: number;
}

export interface EpochRewards {
  revenueMicros: number;
  feePpm: number;
  providerPoolMicros: number;
  rewards: RewardLine[];
}

const GB = 1_000_000_000n;
const MILLION = 1_000_000n;

/** A customer's charge: bytes × price per 10^9 bytes, rounded down to a whole micro-unit. */
export function lineMicros(line: Pick<RevenueLine, 'bytes' | 'priceMicrosPerGb'>): number {
  return Number((BigInt(line.bytes) * BigInt(line.priceMicrosPerGb)) / GB);
}

/**
 * Largest remainder: each relay gets floor(pool × bytes / total); the micro-units left over go one
 * each to the largest fractional parts, ties to the smaller peer id. The shares sum exactly to the pool.
 */
export function computeRewards(
  revenue: RevenueLine[],
  relayBytes: ReadonlyMap<string, number>,
  feePpm: number,
): EpochRewards {
  if (!Number.isSafeInteger(feePpm) || feePpm < 0 || feePpm > 1_000_000)
    throw new RangeError('feePpm must be an integer from 0 to 1000000');
  const revenueMicros = revenue.reduce((sum, line) => sum + lineMicros(line), 0);
  const carried = [...relayBytes].filter(([, bytes]) => bytes > 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const totalBytes = carried.reduce((sum, [, bytes]) => sum + BigInt(bytes), 0n);
  // Nothing carried means nothing to pay out: the pool stays zero rather than going to nobody.
  const pool = totalBytes === 0n ? 0n : (BigInt(revenueMicros) * (MILLION - BigInt(feePpm))) / MILLION;
  const shares = carried.map(([relay, bytes]) => {
    const exact = pool * BigInt(bytes);
    return { relay, bytes, micros: exact / totalBytes, remainder: exact % totalBytes };
  });
  let left = pool - shares.reduce((sum, s) => sum + s.micros, 0n);
  const byRemainder = [...shares].sort((a, b) =>
    a.remainder === b.remainder ? (a.relay < b.relay ? -1 : 1) : a.remainder > b.remainder ? -1 : 1,
  );
  for (const share of byRemainder) {
    if (left === 0n) break;
    share.micros += 1n;
    left -= 1n;
  }
  return {
    revenueMicros,
    feePpm,
    providerPoolMicros: Number(pool),
    rewards: shares.map(({ relay, bytes, micros }) => ({ relay, bytes, micros: Number(micros) })),
  };
}
