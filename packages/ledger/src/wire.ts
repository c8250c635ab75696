import { z } from 'zod';
import { canonicalJson, utf8 } from './canonical.ts';
import type { DisputeBody } from './entries.ts';
import type { Settlement } from './ledger.ts';
import type { ReceiptFields } from './receipt.ts';
import { bodySchemas, describeZodError, receiptSchema } from './schema.ts';

/**
 * The receipt protocol between a gateway and a relay (docs/receipts.md): one request per libp2p
 * stream, canonical JSON, the writer half-closes after its message. The gateway asks, the relay answers.
 */
export const RECEIPT_PROTOCOL = '/meadow/receipt/1.0.0';
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

export type Proposal = ReceiptFields & { gatewaySig: string };

export type ReceiptRequest = { type: 'propose'; receipt: Proposal } | { type: 'settle'; settlement: Settlement };

export type ReceiptResponse =
  | { type: 'signed'; relaySig: string; dispute?: DisputeBody }
  | { type: 'disputed'; dispute: DisputeBody }
  | { type: 'settled' }
  | { type: 'refused'; reason: string; message: string };

/** Why a relay refuses a proposal or settlement outright (a disputed count is not a refusal). */
export const RECEIPT_REFUSAL_REASONS = [
  'wrong-network',
  'wrong-relay',
  'wrong-gateway',
  'malformed',
  'bad-gateway-signature',
  'closed-epoch',
  'stale-seq',
  'smaller-total',
  'bad-settlement',
] as const;
export type ReceiptRefusalReason = (typeof RECEIPT_REFUSAL_REASONS)[number];

const REFUSAL_LABELS = new Map<string, string>(RECEIPT_REFUSAL_REASONS.map((r) => [r, `refused_${r}`]));

/** Every label `receiptResultLabel` gives, so that counters can start each at 0. */
export const RECEIPT_RESULT_LABELS: readonly string[] = [
  'signed',
  'signed_under_protest',
  'disputed',
  'settled',
  ...REFUSAL_LABELS.values(),
  'refused_other',
];

/**
 * A response as the `result` label of both sides' receipt counters: signed, signed_under_protest,
 * disputed, settled, refused_<reason>. The reason is the peer's word, so one this version does not
 * know is `refused_other`: a peer cannot grow the label set.
 */
export function receiptResultLabel(response: ReceiptResponse): string {
  if (response.type === 'refused') return REFUSAL_LABELS.get(response.reason) ?? 'refused_other';
  if (response.type === 'signed' && response.dispute != null) return 'signed_under_protest';
  return response.type;
}

const proposalSchema = receiptSchema.omit({ relaySig: true });

export const requestSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('propose'), receipt: proposalSchema }),
  z.strictObject({
    type: z.literal('settle'),
    settlement: z.strictObject({
      header: bodySchemas.epoch,
      receipt: receiptSchema,
      leafIndex: z.number().int().nonnegative(),
      proof: z.array(z.string().regex(/^[0-9a-f]{64}$/)).max(64),
    }),
  }),
]);

export const responseSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('signed'),
    relaySig: z.string().regex(/^[0-9a-f]{128}$/),
    dispute: bodySchemas.dispute.optional(),
  }),
  z.strictObject({ type: z.literal('disputed'), dispute: bodySchemas.dispute }),
  z.strictObject({ type: z.literal('settled') }),
  z.strictObject({ type: z.literal('refused'), reason: z.string().max(64), message: z.string().max(500) }),
]);

/** The part of a libp2p 3 Stream this protocol uses. */
export interface MessageStreamLike extends AsyncIterable<Uint8Array | { subarray(): Uint8Array }> {
  send(data: Uint8Array): boolean;
  close(options?: { signal?: AbortSignal }): Promise<void>;
  abort(err: Error): void;
}

export async function writeMessage(stream: MessageStreamLike, message: unknown, signal?: AbortSignal): Promise<void> {
  stream.send(utf8(canonicalJson(message)));
  await stream.close({ signal });
}

/** Reads the peer's whole message (until it half-closes), refusing more than MAX_MESSAGE_BYTES. */
export async function readMessage<T>(
  stream: MessageStreamLike,
  schema: z.ZodType<T>,
  signal?: AbortSignal,
): Promise<T> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const onAbort = (): void => stream.abort(new Error('receipt exchange timed out'));
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of stream) {
      const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray();
      size += bytes.length;
      if (size > MAX_MESSAGE_BYTES) {
        stream.abort(new Error('receipt message too large'));
        throw new Error(`receipt message larger than ${MAX_MESSAGE_BYTES} bytes`);
      }
      chunks.push(bytes);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (signal?.aborted) throw new Error('receipt exchange timed out');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new Error('receipt message is not JSON');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new Error(`receipt message is malformed: ${describeZodError(parsed.error)}`);
  return parsed.data;
}
