import { describe, expect, it } from 'vitest';
import { encodeFrame, type Frame, FrameDecoder, FrameProtocolError, FrameType } from '../src/index.ts';
import { joinDataPieces } from './helpers.ts';

function decodeAll(chunks: Uint8Array[]): Frame[] {
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  for (const chunk of chunks) decoder.push(chunk, (f) => frames.push({ ...f, payload: Buffer.from(f.payload) }));
  return joinDataPieces(frames);
}

describe('FrameDecoder', () => {
  const frames = [
    encodeFrame(FrameType.OPEN, 1, Buffer.from([0, 80, 3, 1, 0x61])),
    encodeFrame(FrameType.DATA, 1, Buffer.alloc(70_000, 9)),
    encodeFrame(FrameType.CREDIT, 1, Buffer.from([0, 1, 0, 0])),
    encodeFrame(FrameType.FIN, 7),
  ];
  const wire = Buffer.concat(frames);

  it('decodes frames delivered whole, byte by byte, and in odd-sized pieces alike', () => {
    const whole = decodeAll([wire]);
    const byteByByte = decodeAll([...wire].map((b) => Uint8Array.of(b)));
    const pieces: Uint8Array[] = [];
    for (let i = 0; i < wire.byteLength; i += 4093) pieces.push(wire.subarray(i, i + 4093));
    const odd = decodeAll(pieces);
    for (const decoded of [whole, byteByByte, odd]) {
      expect(decoded.map((f) => [f.type, f.tunnelId, f.payload.byteLength])).toEqual([
        [FrameType.OPEN, 1, 5],
        [FrameType.DATA, 1, 70_000],
        [FrameType.CREDIT, 1, 4],
        [FrameType.FIN, 7, 0],
      ]);
      expect(Buffer.from(decoded[1]?.payload ?? []).equals(Buffer.alloc(70_000, 9))).toBe(true);
    }
  });

  it('hands a DATA payload on as it arrives, as views into the chunks, and holds only headers', () => {
    const payload = Buffer.alloc(70_000, 9);
    const wire = Buffer.concat([encodeFrame(FrameType.DATA, 3, payload), encodeFrame(FrameType.FIN, 3)]);
    const decoder = new FrameDecoder();
    const pieces: Frame[] = [];
    const cuts = [5, 30_000, 69_990, wire.byteLength]; // mid-header, mid-payload twice, then the rest
    let offset = 0;
    for (const cut of cuts) {
      const chunk = wire.subarray(offset, cut);
      decoder.push(chunk, (f) => {
        if (f.type === FrameType.DATA) expect(f.payload.buffer).toBe(chunk.buffer); // a view, not a copy
        pieces.push(f);
      });
      expect(decoder.bufferedBytes).toBeLessThan(9);
      offset = cut;
    }
    expect(pieces.map((f) => [f.type, f.tunnelId, f.payload.byteLength])).toEqual([
      [FrameType.DATA, 3, 30_000 - 9],
      [FrameType.DATA, 3, 39_990],
      [FrameType.DATA, 3, 70_000 - (69_990 - 9)],
      [FrameType.FIN, 3, 0],
    ]);
  });

  it('joins the largest control frame fed byte by byte without re-reading what it holds', () => {
    // Quadratic joining (every byte re-copied per push) would take minutes here; linear takes well under a second.
    const payload = Buffer.alloc(256 * 1024, 5);
    const wire = encodeFrame(FrameType.OK, 9, payload);
    const decoded = decodeAll([...wire].map((b) => Uint8Array.of(b)));
    expect(decoded.map((f) => [f.type, f.tunnelId, f.payload.byteLength])).toEqual([
      [FrameType.OK, 9, payload.byteLength],
    ]);
    expect(Buffer.from(decoded[0]?.payload ?? []).equals(payload)).toBe(true);
  });

  it('rejects an unknown frame type as soon as its header arrives', () => {
    const bad = Buffer.from([99, 0, 0, 0, 1, 0, 0, 0, 0]);
    expect(() => decodeAll([bad])).toThrow(FrameProtocolError);
  });

  it('rejects a frame that announces more than the maximum payload, before buffering it', () => {
    const header = Buffer.from([FrameType.DATA, 0, 0, 0, 1, 0x10, 0, 0, 0]);
    expect(() => decodeAll([header])).toThrow(/exceeds/);
  });
});
