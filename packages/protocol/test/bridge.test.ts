import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type BridgeResult, type ByteGate, bridge, type OpenRequest } from '../src/index.ts';
import { closeServer, muxPair, tcpServer } from './helpers.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

async function listen(onSocket: (socket: Socket) => void): Promise<number> {
  const server = await tcpServer(onSocket, { allowHalfOpen: true });
  cleanups.push(server.close);
  return server.port;
}

/**
 * A relay in miniature: every OPEN connects to its target and is bridged through the given gates.
 * `bridged` resolves with the target-side socket and the bridge's result.
 */
function gatedAcceptor(gates: { toTarget?: ByteGate; fromTarget?: ByteGate }) {
  let done: (value: { target: Socket; result: Promise<BridgeResult> }) => void = () => {};
  const bridged = new Promise<{ target: Socket; result: Promise<BridgeResult> }>((resolve) => {
    done = resolve;
  });
  const onOpen = (request: OpenRequest): void => {
    const target = connect({ port: request.target.port, host: '127.0.0.1', allowHalfOpen: true });
    target.once('connect', () => {
      request.accept({ remoteAddress: '127.0.0.1', remotePort: request.target.port, localAddress: '', localPort: 0 });
      done({
        target,
        result: bridge(target, request.tunnel, { fromSocket: gates.fromTarget, toSocket: gates.toTarget }),
      });
    });
  };
  return { onOpen, bridged };
}

/** A client socket joined to a tunnel the way the gateway joins a crawler's connection. */
async function clientThrough(
  opener: Awaited<ReturnType<typeof muxPair>>['opener'],
  port: number,
): Promise<{ client: Socket; result: Promise<BridgeResult> }> {
  const server = createServer({ allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  client.on('error', () => {});
  cleanups.push(
    () => closeServer(server),
    () => void client.destroy(),
  );
  const [front] = await accepted;
  const tunnel = await opener.open({ host: '127.0.0.1', port });
  return { client, result: bridge(front, tunnel) };
}

describe('bridge', () => {
  it('pauses the target while the client reads nothing, then delivers every byte in order', async () => {
    const body = randomBytes(48 * 1024 * 1024);
    let sent = 0;
    const port = await listen((socket) => {
      const write = (): void => {
        while (sent < body.byteLength) {
          const piece = body.subarray(sent, sent + 256 * 1024);
          sent += piece.byteLength;
          if (!socket.write(piece)) {
            socket.once('drain', write);
            return;
          }
        }
        socket.end();
      };
      write();
    });
    const acceptor = gatedAcceptor({});
    const pair = await muxPair({ onOpen: acceptor.onOpen });
    cleanups.push(pair.close);
    const { client } = await clientThrough(pair.opener, port);
    client.pause();
    await new Promise((r) => setTimeout(r, 500));
    // What the origin managed to hand over is bounded by socket buffers (loopback autotunes them to
    // several MiB each), the tunnel's send queue and its window, not by the body: the bridge
    // stopped reading the target. 12.75 MiB got through here with a 1 MiB send queue.
    const { target } = await acceptor.bridged;
    expect(target.isPaused()).toBe(true);
    expect(sent).toBeLessThan(body.byteLength / 2);
    const chunks: Buffer[] = [];
    client.on('data', (c: Buffer) => chunks.push(c));
    client.resume();
    await once(client, 'end');
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(body));
  });

  it('stops the flow where a gate says, never past the bytes it let through, with a reset', async () => {
    const cut = new Error('cap reached');
    let allowance = 10_000;
    const gate: ByteGate = {
      admit(chunk, forward) {
        const n = Math.min(allowance, chunk.byteLength);
        allowance -= n;
        if (n > 0) forward(chunk.subarray(0, n));
        return n < chunk.byteLength ? cut : undefined;
      },
    };
    const port = await listen((socket) => socket.end(randomBytes(200_000)));
    const acceptor = gatedAcceptor({ fromTarget: gate });
    const pair = await muxPair({ onOpen: acceptor.onOpen });
    cleanups.push(pair.close);
    const { client } = await clientThrough(pair.opener, port);
    let received = 0;
    let ended = false;
    client.on('data', (c: Buffer) => {
      received += c.byteLength;
    });
    client.on('end', () => {
      ended = true;
    });
    await new Promise((resolve) => client.once('close', resolve));
    // The cut drops what was still queued: never more than the gate allowed, never a clean end.
    expect(received).toBeLessThanOrEqual(10_000);
    expect(ended).toBe(false); // a truncated body never looks complete
    const { result } = await acceptor.bridged;
    expect(await result).toEqual({ clean: false, error: cut });
  });

  it('keeps order and every byte through a gate that holds chunks and forwards them in pieces', async () => {
    const upload = randomBytes(2 * 1024 * 1024 + 3);
    const download = randomBytes(3 * 1024 * 1024 + 5);
    let uploaded: Buffer | undefined;
    const port = await listen((socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('end', () => {
        uploaded = Buffer.concat(chunks);
        socket.end(download);
      });
    });
    let held = 0;
    const slow: ByteGate = {
      async admit(chunk, forward) {
        held++;
        await new Promise((r) => setTimeout(r, 1));
        const half = chunk.byteLength >>> 1;
        forward(chunk.subarray(0, half));
        await new Promise((r) => setImmediate(r));
        forward(chunk.subarray(half));
      },
    };
    const acceptor = gatedAcceptor({ toTarget: slow, fromTarget: slow });
    const pair = await muxPair({ onOpen: acceptor.onOpen });
    cleanups.push(pair.close);
    const { client, result } = await clientThrough(pair.opener, port);
    const chunks: Buffer[] = [];
    client.on('data', (c: Buffer) => chunks.push(c));
    client.end(upload);
    await new Promise((resolve, reject) => {
      client.once('end', resolve);
      client.once('error', reject);
    });
    expect(sha256(uploaded as Buffer)).toBe(sha256(upload));
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(download));
    expect(held).toBeGreaterThan(2);
    client.destroy();
    expect((await result).clean).toBe(true);
    expect((await (await acceptor.bridged).result).clean).toBe(true);
  });

  it('adds no listener per chunk, held or not', async () => {
    const port = await listen((socket) => socket.end(randomBytes(4 * 1024 * 1024)));
    const gate: ByteGate = { admit: (chunk, forward) => Promise.resolve().then(() => forward(chunk)) };
    const acceptor = gatedAcceptor({ fromTarget: gate });
    const pair = await muxPair({ onOpen: acceptor.onOpen });
    cleanups.push(pair.close);
    const { client } = await clientThrough(pair.opener, port);
    const { target } = await acceptor.bridged;
    let most = 0;
    client.on('data', () => {
      most = Math.max(most, target.listenerCount('drain'), target.listenerCount('data'));
    });
    await once(client, 'end');
    expect(most).toBeLessThanOrEqual(1);
  });
});
