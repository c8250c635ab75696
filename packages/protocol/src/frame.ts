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
 * Incremental decoder: feed it chunks as they arrive, get frames back. Control frames come whole;
 * a DATA frame's payload is handed on as it arrives, as several DATA frames of the same tunnel
 * when it spans chunks (a tunnel's data is a byte stream, so nothing downstream can tell), and
 * payload bytes are always views into the chunks: only headers and control frames are ever joined.
 */
export class FrameDecoder {
  /** Start of a header or of a control frame, waiting for the rest of it. */
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  /** Whole size of the held control frame once its header is in (0 before): read once, not per chunk. */
  private heldNeeded = 0;
  private heldType = 0;
  private heldTunnelId = 0;
  /** Payload bytes still to come of the DATA frame being passed through, and its tunnel. */
  private dataLeft = 0;
  private dataTunnelId = 0;

  push(chunk: Uint8Array, onFrame: (frame: Frame) => void): void {
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (buf.byteLength > 0) {
      if (this.dataLeft > 0) {
        const n = Math.min(this.dataLeft, buf.byteLength);
        this.dataLeft -= n;
        onFrame({ type: FrameType.DATA, tunnelId: this.dataTunnelId, payload: buf.subarray(0, n) });
        buf = buf.subarray(n);
      } else if (this.buffered > 0) {
        buf = this.completeBuffered(buf, onFrame);
      } else {
        buf = this.decodeWhole(buf, onFrame);
      }
    }
  }

  /** Bytes held waiting for the rest of a header or control frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Decodes the frames that `buf` holds; returns what is left once a frame runs past its end. */
  private decodeWhole(buf: Buffer, onFrame: (frame: Frame) => void): Buffer {
    let offset = 0;
    while (buf.byteLength - offset >= FRAME_HEADER_BYTES) {
      const type = buf[offset] as number;
      const length = buf.readUInt32BE(offset + 5);
      this.check(type, length);
      const tunnelId = buf.readUInt32BE(offset + 1);
      const end = offset + FRAME_HEADER_BYTES + length;
      if (end > buf.byteLength) {
        if (type !== FrameType.DATA) break;
        this.dataLeft = end - buf.byteLength;
        this.dataTunnelId = tunnelId;
        const here = buf.subarray(offset + FRAME_HEADER_BYTES);
        if (here.byteLength > 0) onFrame({ type: FrameType.DATA, tunnelId, payload: here });
        return EMPTY;
      }
      onFrame({ type: type as FrameType, tunnelId, payload: buf.subarray(offset + FRAME_HEADER_BYTES, end) });
      offset = end;
    }
    if (offset < buf.byteLength) {
      const rest = buf.subarray(offset);
      // A whole header here belongs to a control frame (a DATA frame's payload is never held).
      if (rest.byteLength >= FRAME_HEADER_BYTES) this.holdHeader(rest);
      this.hold(rest);
    }
    return EMPTY;
  }

  /** Adds to a held header or control frame the bytes it still needs; returns the rest of `buf`. */
  private completeBuffered(buf: Buffer, onFrame: (frame: Frame) => void): Buffer {
    if (this.heldNeeded === 0) {
      const take = Math.min(FRAME_HEADER_BYTES - this.buffered, buf.byteLength);
      this.hold(buf.subarray(0, take));
      buf = buf.subarray(take);
      if (this.buffered < FRAME_HEADER_BYTES) return buf;
      const header = Buffer.concat(this.chunks, FRAME_HEADER_BYTES);
      if (header[0] === FrameType.DATA) {
        // Only a header was held: the payload follows in `buf` and later chunks, handed on as it comes.
        const length = header.readUInt32BE(5);
        this.check(FrameType.DATA, length);
        const tunnelId = header.readUInt32BE(1);
        this.release();
        if (length === 0) onFrame({ type: FrameType.DATA, tunnelId, payload: EMPTY });
        this.dataLeft = length;
        this.dataTunnelId = tunnelId;
        return buf;
      }
      this.holdHeader(header);
    }
    const take = Math.min(this.heldNeeded - this.buffered, buf.byteLength);
    if (take > 0) this.hold(buf.subarray(0, take));
    if (this.buffered < this.heldNeeded) return EMPTY;
    const frame = Buffer.concat(this.chunks, this.heldNeeded);
    const type = this.heldType as FrameType;
    const tunnelId = this.heldTunnelId;
    this.release();
    onFrame({ type, tunnelId, payload: frame.subarray(FRAME_HEADER_BYTES) });
    return buf.subarray(take);
  }

  /** Reads a held control frame's header (the first 9 bytes of `header`) once. */
  private holdHeader(header: Buffer): void {
    const type = header[0] as number;
    const length = header.readUInt32BE(5);
    this.check(type, length);
    this.heldType = type;
    this.heldTunnelId = header.readUInt32BE(1);
    this.heldNeeded = FRAME_HEADER_BYTES + length;
  }

  private hold(part: Buffer): void {
    this.chunks.push(part);
    this.buffered += part.byteLength;
  }

  private release(): void {
    this.chunks.length = 0;
    this.buffered = 0;
    this.heldNeeded = 0;
  }

  private check(type: number, length: number): void {
    if (!KNOWN_TYPES.has(type)) throw new FrameProtocolError(`unknown frame type ${type}`);
    if (length > MAX_FRAME_PAYLOAD_BYTES) {
      throw new FrameProtocolError(`frame payload of ${length} bytes exceeds ${MAX_FRAME_PAYLOAD_BYTES}`);
    }
  }
}

const EMPTY = Buffer.alloc(0);
