/**
 * Frame layer of the Meadow tunnel protocol (`/meadow/tunnel/1.0.0`), specified in docs/tunnel-protocol.md.
 *
 *   0      1              5              9
 *   +------+--------------+--------------+-----------------+
 *   | type | tunnel id    | length       | payload ...     |
 *   | u8   | u32 BE       | u32 BE       | length bytes    |
 *   +------+--------------+--------------+-----------------+
 */

export const FRAME_HEADER_BYTES = 9;
/** The largest payload a peer may send in one frame; larger frames are a protocol violation. */
export const MAX_FRAME_PAYLOAD_BYTES = 256 * 1024;

/** Credit every tunnel starts with in each direction; a side with a larger window grants the rest at once. */
export const INITIAL_WINDOW_BYTES = 256 * 1024;

export const FrameType = {
  OPEN: 1,
  OK: 2,
  ERR: 3,
  DATA: 4,
  FIN: 5,
  RST: 6,
  CREDIT: 7,
  NOTICE: 8,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const KNOWN_TYPES = new Set<number>(Object.values(FrameType));

export interface Frame {
  type: FrameType;
  tunnelId: number;
  payload: Uint8Array;
}

export class FrameProtocolError extends Error {
  readonly code = 'MEADOW_ERR_FRAME_PROTOCOL';
}

export function encodeFrameHeader(type: FrameType, tunnelId: number, length: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header[0] = type;
  header.writeUInt32BE(tunnelId, 1);
  header.writeUInt32BE(length, 5);
  return header;
}

export function encodeFrame(type: FrameType, tunnelId: number, payload?: Uint8Array): Buffer {
  const length = payload?.byteLength ?? 0;
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  frame[0] = type;
  frame.writeUInt32BE(tunnelId, 1);
  frame.writeUInt32BE(length, 5);
  if (payload != null && length > 0) frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/**
 * Incremental decoder: feed it chunks as they arrive, get whole frames back.
 * Payloads that sit inside one chunk are returned as views (no copy).
 */
export class FrameDecoder {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  /** Total bytes of the partial frame at the head of `chunks`, once its header has arrived (0 before). */
  private needed = 0;

  push(chunk: Uint8Array, onFrame: (frame: Frame) => void): void {
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.buffered > 0) {
      // Each push costs O(its own size) until the frame completes: tiny chunks cannot make this quadratic.
      this.chunks.push(buf);
      this.buffered += buf.byteLength;
      if (this.buffered < FRAME_HEADER_BYTES) return;
      if (this.needed === 0) this.needed = FRAME_HEADER_BYTES + this.peekLength();
      if (this.buffered < this.needed) return;
      buf = Buffer.concat(this.chunks, this.buffered);
      this.chunks.length = 0;
      this.buffered = 0;
      this.needed = 0;
    }
    let offset = 0;
    while (buf.byteLength - offset >= FRAME_HEADER_BYTES) {
      const type = buf[offset] as number;
      const length = buf.readUInt32BE(offset + 5);
      this.check(type, length);
      const end = offset + FRAME_HEADER_BYTES + length;
      if (end > buf.byteLength) break;
      onFrame({
        type: type as FrameType,
        tunnelId: buf.readUInt32BE(offset + 1),
        payload: buf.subarray(offset + FRAME_HEADER_BYTES, end),
      });
      offset = end;
    }
    if (offset < buf.byteLength) {
      const rest = buf.subarray(offset);
      if (rest.byteLength >= FRAME_HEADER_BYTES) {
        const length = rest.readUInt32BE(5);
        this.check(rest[0] as number, length);
        this.needed = FRAME_HEADER_BYTES + length;
      }
      this.chunks.push(rest);
      this.buffered = rest.byteLength;
    }
  }

  /** Bytes held waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  private peekLength(): number {
    const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    let filled = 0;
    for (const part of this.chunks) {
      filled += part.copy(head, filled, 0, Math.min(part.byteLength, FRAME_HEADER_BYTES - filled));
      if (filled === FRAME_HEADER_BYTES) break;
    }
    const type = head[0] as number;
    const length = head.readUInt32BE(5);
    this.check(type, length);
    return length;
  }

  private check(type: number, length: number): void {
    if (!KNOWN_TYPES.has(type)) throw new FrameProtocolError(`unknown frame type ${type}`);
    if (length > MAX_FRAME_PAYLOAD_BYTES) {
      throw new FrameProtocolError(`frame payload of ${length} bytes exceeds ${MAX_FRAME_PAYLOAD_BYTES}`);
    }
  }
}
