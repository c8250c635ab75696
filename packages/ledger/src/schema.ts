import { z } from 'zod';
import { ENTRY_KINDS } from './entries.ts';

const uint = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`));
const peerId = z.string().regex(/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/);
const counts = z.strictObject({ bytesToTarget: uint, bytesFromTarget: uint, tunnels: uint });

export const receiptSchema = z.strictObject({
  network: z.string(),
  epoch: uint,
  gateway: peerId,
  relay: peerId,
  seq: uint,
  bytesToTarget: uint,
  bytesFromTarget: uint,
  tunnels: uint,
  issuedAt: uint,
  gatewaySig: hex(64),
  relaySig: hex(64),
});

export const bodySchemas = {
  receipt: receiptSchema,
  dispute: z.strictObject({
    network: z.string(),
    epoch: uint,
    gateway: peerId,
    relay: peerId,
    seq: uint,
    proposed: counts,
    relayCount: counts,
    reason: z.string().max(200),
    relaySig: hex(64),
  }),
  revenue: z.strictObject({
    epoch: uint,
    customer: z.string().min(1).max(64),
    bytes: uint,
    priceMicrosPerGb: uint,
    micros: uint,
  }),
  epoch: z.strictObject({
    network: z.string(),
    gateway: peerId,
    epoch: uint,
    startedAt: uint,
    endedAt: uint,
    chainHead: hex(32),
    receipts: uint,
    merkleRoot: hex(32),
    revenueMicros: uint,
    feePpm: uint,
    providerPoolMicros: uint,
    rewards: z.array(z.strictObject({ relay: peerId, bytes: uint, micros: uint })),
    gatewaySig: hex(64),
  }),
} as const;

export const entrySchema = z.strictObject({
  gateway: peerId,
  index: uint,
  kind: z.enum(ENTRY_KINDS as [string, ...string[]]),
  body: z.record(z.string(), z.unknown()),
  prev: hex(32),
  hash: hex(32),
});

export const exportHeaderSchema = z.strictObject({
  format: z.literal('meadow-ledger-export'),
  version: z.literal(1),
  network: z.string(),
});

export function describeZodError(err: z.ZodError): string {
  const issue = err.issues[0];
  if (issue == null) return 'invalid';
  const path = issue.path.join('.');
  return path === '' ? issue.message : `${path}: ${issue.message}`;
}
