import type { Stream } from '@libp2p/interface';

/**
 * The whole of what the remote sends until it half-closes, at most `maxBytes`, from the stream's
 * 'message' and 'end' events (bytes that arrived before are buffered by the stream and delivered
 * to the first 'message' listener).
 */
export function readToEnd(stream: Stream, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array> {
  // libp2p may have marked the readable end as ended (and sent 'end') while bytes that came with
  // the protocol negotiation still wait in its buffer: finished only when that buffer is empty too.
  const ended = (): boolean => stream.readableEnded && stream.readBufferLength === 0;
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    const cleanup = (): void => {
      stream.removeEventListener('message', onMessage);
      stream.removeEventListener('end', onEnd);
      stream.removeEventListener('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (err: Error): void => {
      cleanup();
      stream.abort(err);
      reject(err);
    };
    const onMessage = (evt: { data: Uint8Array | { subarray(): Uint8Array } }): void => {
      const bytes = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray();
      size += bytes.byteLength;
      if (size > maxBytes) {
        fail(new Error(`more than ${maxBytes} bytes`));
        return;
      }
      chunks.push(bytes);
      if (ended()) onEnd();
    };
    const onEnd = (): void => {
      if (stream.readBufferLength > 0) return; // delivered to onMessage next
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onClose = (evt: { error?: Error }): void => {
      if (evt.error != null) {
        fail(evt.error);
        return;
      }
      // Closed: nothing more will come, whatever is still buffered; never wait for an 'end'.
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onAbort = (): void => fail(new Error('timed out'));
    stream.addEventListener('message', onMessage);
    stream.addEventListener('end', onEnd);
    stream.addEventListener('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (ended()) onEnd();
  });
}
