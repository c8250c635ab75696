import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrame, type Frame, FrameDecoder, FrameProtocolError, FrameType } from '../src/frame.ts';
import { decodeTarget, encodeTarget, TargetError } from '../src/target.ts';
import { joinDataPieces } from './helpers.ts';

describe('tunnel header and OPEN payload decoders under arbitrary input', () => {
  it('decodes any valid frame sequence, however it is split, to the same frames and tunnel bytes', () => {
    const frame = fc.record({
      type: fc.constantFrom(FrameType.DATA, FrameType.FIN, FrameType.RST, FrameType.CREDIT, FrameType.OK),
      tunnelId: fc.integer({ min: 1, max: 2 ** 32 - 1 }),
      payload: fc.uint8Array({ maxLength: 2_000 }),
    });
    fc.assert(
      fc.property(
        fc.array(frame, { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 5_000 }), { maxLength: 30 }),
        (frames, cuts) => {
          const wire = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.tunnelId, f.payload)));
          const decoder = new FrameDecoder();
          const out: Frame[] = [];
          let offset = 0;
          for (const cut of [...cuts, wire.byteLength]) {
            if (offset >= wire.byteLength) break;
            const next = Math.min(wire.byteLength, offset + cut);
            decoder.push(wire.subarray(offset, next), (f) => out.push({ ...f, payload: Buffer.from(f.payload) }));
            offset = next;
          }
          const shown = (list: Frame[]) =>
            joinDataPieces(list).map((f) => [f.type, f.tunnelId, Buffer.from(f.payload).toString('hex')]);
          expect(shown(out)).toEqual(shown(frames));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('arbitrary bytes either decode to frames or raise FrameProtocolError, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4_000 }), (bytes) => {
        try {
          new FrameDecoder().push(bytes, () => {});
        } catch (err) {
          expect(err).toBeInstanceOf(FrameProtocolError);
        }
      }),
      { numRuns: 1_000 },
    );
  });

  it('an OPEN payload either decodes to a target that re-encodes identically or raises TargetError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          const target = decodeTarget(bytes);
          expect(decodeTarget(encodeTarget(target))).toEqual(target);
        } catch (err) {
          expect(err).toBeInstanceOf(TargetError);
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
