import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { countryCodeProblem } from '@meadow/protocol';
import { peerIdFromDescriptorKey } from './keys.ts';

/**
 * A relay's signed description of itself, stored in the DHT under `/meadow-relay/<peer id>`.
 * Byte layout and rules: docs/descriptor.md.
 */
export interface RelayDescriptor {
  peerId: string;
  addrs: string[];
  /** ISO 3166-1 alpha-2, upper case, as claimed by the relay. */
  country: string;
  capacityBytesPerSecond: number;
  state: RelayState;
  /** Bytes left in the current accounting period, or null when uncapped. */
  remainingBytes: number | null;
  maxTunnels: number;
  /** Ports the relay's exit policy refuses for every address. */
  rejectedPorts: number[];
  softwareVersion: string;
  payoutAddress: string;
  issuedAt: number;
  expiresAt: number;
}

export type RelayState = 'serving' | 'paused' | 'hibernating' | 'outside-schedule';
const STATES: ReadonlySet<string> = new Set(['serving', 'paused', 'hibernating', 'outside-schedule']);

export const DESCRIPTOR_VERSION = 1;
export const MAX_DESCRIPTOR_BYTES = 4096;
const SIGNATURE_BYTES = 64;
const MAX_CLOCK_SKEW_MS = 60_000;
const MAX_LIFETIME_MS = 24 * 60 * 60 * 1000;
const SIGNING_PREFIX = new TextEncoder().encode('meadow-descriptor-v1\0');

export class DescriptorError extends Error {
  readonly code = 'MEADOW_ERR_BAD_DESCRIPTOR';
}

/** Deterministic JSON: object keys sorted, no white space. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new DescriptorError('non-finite number');
  return JSON.stringify(value);
}

function signingBytes(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(SIGNING_PREFIX.byteLength + body.byteLength);
  out.set(SIGNING_PREFIX, 0);
  out.set(body, SIGNING_PREFIX.byteLength);
  return out;
}

/** value = u8 version | u16 BE body length | canonical JSON body | 64-byte ed25519 signature. */
export async function encodeDescriptor(descriptor: RelayDescriptor, privateKey: PrivateKey): Promise<Uint8Array> {
  checkFields(descriptor);
  const body = new TextEncoder().encode(canonicalJson(descriptor));
  const signature = await privateKey.sign(signingBytes(body));
  const out = new Uint8Array(3 + body.byteLength + SIGNATURE_BYTES);
  out[0] = DESCRIPTOR_VERSION;
  new DataView(out.buffer).setUint16(1, body.byteLength);
  out.set(body, 3);
  out.set(signature, 3 + body.byteLength);
  if (out.byteLength > MAX_DESCRIPTOR_BYTES)
    throw new DescriptorError(`descriptor is ${out.byteLength} bytes, over ${MAX_DESCRIPTOR_BYTES}`);
  return out;
}

/**
 * Decodes and verifies a descriptor record: size, version, layout, field types, signature by the
 * peer id's own key, the DHT key naming that same peer, and the validity window.
 */
export async function verifyDescriptor(key: Uint8Array, value: Uint8Array, now = Date.now()): Promise<RelayDescriptor> {
  if (value.byteLength > MAX_DESCRIPTOR_BYTES)
    throw new DescriptorError(`record of ${value.byteLength} bytes is oversized`);
  if (value.byteLength < 3 + SIGNATURE_BYTES) throw new DescriptorError('record too short');
  if (value[0] !== DESCRIPTOR_VERSION) throw new DescriptorError(`unsupported descriptor version ${value[0]}`);
  const bodyLength = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint16(1);
  if (value.byteLength !== 3 + bodyLength + SIGNATURE_BYTES)
    throw new DescriptorError('record length does not match its body length');
  const body = value.subarray(3, 3 + bodyLength);
  const signature = value.subarray(3 + bodyLength);
  let descriptor: RelayDescriptor;
  try {
    descriptor = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body)) as RelayDescriptor;
  } catch {
    throw new DescriptorError('body is not valid UTF-8 JSON');
  }
  checkFields(descriptor);
  if (canonicalJson(descriptor) !== new TextDecoder().decode(body))
    throw new DescriptorError('body is not in canonical form');
  const keyPeer = peerIdFromDescriptorKey(key);
  if (keyPeer !== descriptor.peerId)
    throw new DescriptorError(`record key names ${keyPeer} but the descriptor is for ${descriptor.peerId}`);
  const publicKey = peerIdFromString(descriptor.peerId).publicKey;
  if (publicKey == null || publicKey.type !== 'Ed25519')
    throw new DescriptorError('peer id does not embed an ed25519 key');
  if (!(await publicKey.verify(signingBytes(body), signature))) throw new DescriptorError('bad signature');
  if (descriptor.expiresAt <= now) throw new DescriptorError('descriptor expired');
  if (descriptor.issuedAt > now + MAX_CLOCK_SKEW_MS) throw new DescriptorError('descriptor issued in the future');
  if (descriptor.expiresAt - descriptor.issuedAt > MAX_LIFETIME_MS)
    throw new DescriptorError('descriptor lifetime over 24 h');
  return descriptor;
}

function checkFields(d: RelayDescriptor): void {
  const fail = (field: string): never => {
    throw new DescriptorError(`invalid descriptor field "${field}"`);
  };
  if (d === null || typeof d !== 'object' || Array.isArray(d)) fail('(root)');
  const allowed = new Set([
    'peerId',
    'addrs',
    'country',
    'capacityBytesPerSecond',
    'state',
    'remainingBytes',
    'maxTunnels',
    'rejectedPorts',
    'softwareVersion',
    'payoutAddress',
    'issuedAt',
    'expiresAt',
  ]);
  for (const k of Object.keys(d)) if (!allowed.has(k)) fail(k);
  if (typeof d.peerId !== 'string' || d.peerId.length > 128) fail('peerId');
  if (!Array.isArray(d.addrs) || d.addrs.length > 16 || d.addrs.some((a) => typeof a !== 'string' || a.length > 256))
    fail('addrs');
  if (typeof d.country !== 'string' || !/^[A-Z]{2}$/.test(d.country) || countryCodeProblem(d.country) != null)
    fail('country');
  if (!isCount(d.capacityBytesPerSecond)) fail('capacityBytesPerSecond');
  if (typeof d.state !== 'string' || !STATES.has(d.state)) fail('state');
  if (d.remainingBytes !== null && !isCount(d.remainingBytes)) fail('remainingBytes');
  if (!isCount(d.maxTunnels)) fail('maxTunnels');
  if (
    !Array.isArray(d.rejectedPorts) ||
    d.rejectedPorts.length > 1024 ||
    d.rejectedPorts.some((p) => !isCount(p) || p > 65_535)
  )
    fail('rejectedPorts');
  if (typeof d.softwareVersion !== 'string' || d.softwareVersion.length > 64) fail('softwareVersion');
  if (typeof d.payoutAddress !== 'string' || d.payoutAddress.length > 128) fail('payoutAddress');
  if (!isCount(d.issuedAt)) fail('issuedAt');
  if (!isCount(d.expiresAt)) fail('expiresAt');
}

function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

/** DHT validator for the descriptor namespace. */
export async function validateDescriptorRecord(key: Uint8Array, value: Uint8Array): Promise<void> {
  await verifyDescriptor(key, value);
}

/** DHT selector: the valid record issued last wins. */
export function selectNewestDescriptor(_key: Uint8Array, records: Uint8Array[]): number {
  let best = 0;
  let bestIssuedAt = -1;
  records.forEach((record, i) => {
    try {
      const bodyLength = new DataView(record.buffer, record.byteOffset, record.byteLength).getUint16(1);
      const body = JSON.parse(new TextDecoder().decode(record.subarray(3, 3 + bodyLength))) as RelayDescriptor;
      if (body.issuedAt > bestIssuedAt) {
        best = i;
        bestIssuedAt = body.issuedAt;
      }
    } catch {
      // an undecodable record never wins
    }
  });
  return best;
}
