import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { bridge, MeadowError, type Tunnel } from '../src/index.ts';
import { closeServer, connectingAcceptor, muxPair, tcpServer } from './helpers.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function origin(onSocket: (socket: Socket) => void): Promise<number> {
  const server = await tcpServer(onSocket);
  cleanups.push(server.close);
  return server.port;
}

function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/** An origin that sends 8 MiB, behind a mux pair whose windows start at 256 KiB and grow to 1 MiB. */
async function eightMiBOrigin(): Promise<{ big: Buffer; port: number; pair: Awaited<ReturnType<typeof muxPair>> }> {
  const big = randomBytes(8 * 1024 * 1024);
  const port = await origin((socket) => socket.end(big));
  const pair = await muxPair(
    { onOpen: connectingAcceptor() },
    { windowBytes: 256 * 1024, maxWindowBytes: 1024 * 1024 },
  );
  cleanups.push(pair.close);
  return { big, port, pair };
}

describe('TunnelMux', () => {
  it('carries bytes both ways, honours half-close in each direction and counts payload exactly once', async () => {
    const port = await origin((socket) => {
      // Echo everything back after the client half-closes, then close our side.
      const chunks: Buffer[] = [];
      socket.on('data', (c) => chunks.push(c));
      socket.on('end', () => socket.end(Buffer.concat(chunks)));
    });
    const pair = await muxPair({ onOpen: connectingAcceptor() });
    cleanups.push(pair.close);
    const tunnel = await pair.opener.open({ host: '127.0.0.1', port });
    expect(tunnel.info?.remotePort).toBe(port);
    const payload = randomBytes(3 * 1024 * 1024 + 17);
    tunnel.end(payload);
    const echoed = await readAll(tunnel);
    expect(createHash('sha256').update(echoed).digest('hex')).toBe(createHash('sha256').update(payload).digest('hex'));
    expect(tunnel.bytesSent).toBe(payload.byteLength);
    expect(tunnel.bytesReceived).toBe(payload.byteLength);
    await waitFor(() => tunnel.closed);
    await waitFor(() => pair.opener.activeTunnels === 0 && pair.acceptor.activeTunnels === 0);
  });

  it('takes turns between busy tunnels when each batch is smaller than a pass, so none starves and a new one goes out within a turn', async () => {
    // A paced link (2 MB/s, 16 KiB at a time), as a relay's on a slow upload: a batch holds one
    // tunnel's frame, so the order of turns decides who sends at all.
    const pace = { bytesPerMs: 2_000, burst: 16 * 1024, tokens: 16 * 1024, at: performance.now() };
    const refill = (): void => {
      const now = performance.now();
      pace.tokens = Math.min(pace.burst, pace.tokens + (now - pace.at) * pace.bytesPerMs);
      pace.at = now;
    };
    const pacer = {
      allowance: () => {
        refill();
        return Math.max(0, pace.tokens);
      },
      spend: (bytes: number) => {
        pace.tokens -= bytes;
      },
      waitMs: () => Math.max(1, Math.ceil(-pace.tokens / pace.bytesPerMs) + 1),
    };
    const chunk = Buffer.alloc(64 * 1024, 'b');
    const bulkPort = await origin((socket) => {
      const pump = (): void => {
        while (!socket.destroyed && socket.write(chunk));
      };
      socket.on('drain', pump);
      pump();
    });
    const smallPort = await origin((socket) => socket.end(Buffer.alloc(1000, 's')));
    const pair = await muxPair({ onOpen: connectingAcceptor(), pacer });
    cleanups.push(pair.close);
    const received = Array.from({ length: 8 }, () => 0);
    const bulk = await Promise.all(received.map(() => pair.opener.open({ host: '127.0.0.1', port: bulkPort })));
    cleanups.push(async () => {
      for (const tunnel of bulk) tunnel.destroy();
    });
    bulk.forEach((tunnel, i) => {
      tunnel.on('error', () => {});
      tunnel.on('data', (data: Buffer) => {
        received[i] = (received[i] ?? 0) + data.byteLength;
      });
    });
    await waitFor(() => received.reduce((a, b) => a + b, 0) > 512 * 1024);
    // Every busy tunnel has had turns, not only the first ones.
    expect(Math.min(...received), received.join(' ')).toBeGreaterThan(Math.max(...received) / 4);

    const before = received.reduce((a, b) => a + b, 0);
    const small = await readAll(await pair.opener.open({ host: '127.0.0.1', port: smallPort }));
    const meanwhile = received.reduce((a, b) => a + b, 0) - before;
    expect(small.byteLength).toBe(1000);
    // What the busy tunnels sent while the new one waited for its turn: about a turn each, not all they had.
    expect(meanwhile).toBeLessThan(1024 * 1024);
  });

  it('maps a refused target to MEADOW_ERR_TARGET_REFUSED without tearing down the link', async () => {
    const port = await origin(() => {});
    const pair = await muxPair({ onOpen: connectingAcceptor() });
    cleanups.push(pair.close);
    const closedPort = await freePort();
    const err = await pair.opener.open({ host: '127.0.0.1', port: closedPort }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MeadowError);
    expect((err as MeadowError).code).toBe('MEADOW_ERR_TARGET_REFUSED');
    const tunnel = await pair.opener.open({ host: '127.0.0.1', port });
    tunnel.destroy();
    await waitFor(() => pair.opener.activeTunnels === 0 && pair.acceptor.activeTunnels === 0);
  });

  it('keeps other tunnels moving while one reader is stalled (per-tunnel credit, no link pause)', async () => {
    const { big, port, pair } = await eightMiBOrigin();
    const stalled = await pair.opener.open({ host: '127.0.0.1', port });
    stalled.pause();
    const moving = await pair.opener.open({ host: '127.0.0.1', port });
    const body = await readAll(moving);
    expect(body.equals(big)).toBe(true);
    // A reader that keeps up lets its window grow (to the mux's maximum, no further); a stalled
    // one holds at most its initial window plus the stream's own buffer.
    expect(moving.receiveWindow).toBeGreaterThan(256 * 1024);
    expect(moving.receiveWindow).toBeLessThanOrEqual(1024 * 1024);
    expect(stalled.receiveWindow).toBe(256 * 1024);
    expect(stalled.bytesReceived).toBeLessThanOrEqual(256 * 1024 + 64 * 1024);
    const rest = await readAll(stalled.resume() as Tunnel);
    expect(rest.byteLength).toBe(big.byteLength);
  });

  it('grows the window of a fast reader whose destination fills between reads (credit held, then granted)', async () => {
    const { big, port, pair } = await eightMiBOrigin();
    const tunnel = await pair.opener.open({ host: '127.0.0.1', port });
    // What the bridge does when the client's socket is full after a write: pause until it drains.
    const chunks: Buffer[] = [];
    tunnel.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      tunnel.pause();
      setImmediate(() => tunnel.resume());
    });
    await new Promise((resolve, reject) => {
      tunnel.once('end', resolve);
      tunnel.on('error', reject);
    });
    expect(Buffer.concat(chunks).equals(big)).toBe(true);
    expect(tunnel.receiveWindow).toBe(1024 * 1024);
  });

  it('propagates a reset: the far socket is destroyed and the opener sees an error', async () => {
    let serverSide: Socket | undefined;
    const port = await origin((socket) => {
      serverSide = socket;
      socket.on('error', () => {});
    });
    const pair = await muxPair({ onOpen: connectingAcceptor() });
    cleanups.push(pair.close);
    const tunnel = await pair.opener.open({ host: '127.0.0.1', port });
    await waitFor(() => serverSide != null);
    const failed = new Promise<Error>((resolve) => tunnel.on('error', resolve));
    serverSide?.resetAndDestroy();
    expect((await failed).message).toMatch(/reset/);
    expect(tunnel.destroyed).toBe(true);
    await waitFor(() => pair.opener.activeTunnels === 0 && pair.acceptor.activeTunnels === 0);
  });

  // Regression: node's http Agent calls setTimeout on every reuse of a kept-alive socket; each call
  // used to add a 'close' listener to the tunnel.
  it('hands a socket the pieces one link read delivered as one writev, not one write each', async () => {
    const pieces = [Buffer.alloc(1000, 1), Buffer.alloc(2000, 2), Buffer.alloc(3000, 3)];
    const pair = await muxPair({
      onOpen: (request) => {
        request.accept({ remoteAddress: '192.0.2.1', remotePort: 80, localAddress: '', localPort: 0 });
        request.tunnel.on('error', () => {}); // reset when the test's client goes away
        // Three writes in one turn: three DATA frames in one flush of the link.
        for (const piece of pieces) request.tunnel.write(piece);
        request.tunnel.end();
      },
    });
    cleanups.push(pair.close);
    const tunnel = await pair.opener.open({ host: '192.0.2.1', port: 80 });
    let received = Buffer.alloc(0);
    const port = await origin((socket) => {
      socket.on('data', (c: Buffer) => {
        received = Buffer.concat([received, c]);
      });
    });
    const client = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    await once(client, 'connect');
    const calls = { write: 0, writev: 0 };
    const { _write, _writev } = client as unknown as Record<string, (...args: unknown[]) => void>;
    Object.assign(client, {
      _write: (...args: unknown[]) => {
        calls.write++;
        _write?.apply(client, args);
      },
      _writev: (...args: unknown[]) => {
        calls.writev++;
        _writev?.apply(client, args);
      },
    });
    void bridge(client, tunnel);
    await waitFor(() => received.byteLength === 6000);
    expect(received.equals(Buffer.concat(pieces))).toBe(true);
    expect(calls).toEqual({ write: 0, writev: 1 });
    client.destroy();
  });

  it('emits timeout after idleness and adds no listener per setTimeout call', async () => {
    const port = await origin(() => {});
    const pair = await muxPair({ onOpen: connectingAcceptor() });
    cleanups.push(pair.close);
    const tunnel = await pair.opener.open({ host: '127.0.0.1', port });
    const listeners = tunnel.listenerCount('close');
    for (let i = 0; i < 20; i++) tunnel.setTimeout(1_000);
    expect(tunnel.listenerCount('close')).toBe(listeners);
    const timedOut = new Promise((resolve) => tunnel.setTimeout(50, () => resolve(true)));
    expect(await timedOut).toBe(true);
    tunnel.destroy();
    await waitFor(() => pair.opener.activeTunnels === 0 && pair.acceptor.activeTunnels === 0);
  });

  it('fails every open tunnel with MEADOW_ERR_RELAY_LOST when the link drops', async () => {
    const port = await origin(() => {});
    const pair = await muxPair({ onOpen: connectingAcceptor() });
    const tunnel = await pair.opener.open({ host: '127.0.0.1', port });
    const failed = new Promise<Error>((resolve) => tunnel.on('error', resolve));
    await pair.close();
    const err = await failed;
    expect((err as MeadowError).code).toBe('MEADOW_ERR_RELAY_LOST');
    expect(pair.opener.activeTunnels).toBe(0);
  });

  it('closes a tunnel the opener resets before it was answered, without an unhandled error event', async () => {
    // Regression: a crawler that went away while its relay was still connecting made the gateway
    // reset the tunnel, and the relay's tunnel, not yet bridged, emitted 'error' to no listener:
    // the relay exited (seen in CI, test/gateway-integrity.test.ts).
    const unhandled: unknown[] = [];
    const onUncaught = (err: unknown): void => void unhandled.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      let accepting: Tunnel | undefined;
      const pair = await muxPair({
        onOpen: (request) => {
          accepting = request.tunnel; // never answers
        },
      });
      cleanups.push(pair.close);
      const abort = new AbortController();
      const opening = pair.opener.open({ host: '127.0.0.1', port: 9 }, { signal: abort.signal });
      await waitFor(() => accepting != null);
      abort.abort(new MeadowError('MEADOW_ERR_INTERNAL', 'client went away'));
      await expect(opening).rejects.toMatchObject({ code: 'MEADOW_ERR_INTERNAL' });
      await waitFor(() => accepting?.closed === true);
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).toEqual([]);
      expect(pair.acceptor.activeTunnels).toBe(0);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });

  it('rejects an open still in flight when the link drops, without an unhandled error event', async () => {
    // Regression: a relay killed under load crashed the gateway through the opening tunnel's 'error'.
    const unhandled: unknown[] = [];
    const onUncaught = (err: unknown): void => void unhandled.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const pair = await muxPair({ onOpen: () => {} }); // the far side never answers
      const opening = pair.opener.open({ host: '127.0.0.1', port: 9 });
      await new Promise((r) => setTimeout(r, 20));
      await pair.close();
      await expect(opening).rejects.toMatchObject({ code: 'MEADOW_ERR_RELAY_LOST' });
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).toEqual([]);
      expect(pair.opener.activeTunnels).toBe(0);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await closeServer(server);
  return port;
}

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
