import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectToTarget } from '../src/connect.ts';

describe('connectToTarget', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('connects from the egress address and says which address answered', async () => {
    const { socket, target } = await connectToTarget([{ address: '127.0.0.1', port }], {
      localAddress: '127.0.0.2',
      timeoutMs: 5_000,
    });
    expect(socket.localAddress).toBe('127.0.0.2');
    expect(target).toEqual({ address: '127.0.0.1', port });
    socket.destroy();
  });

  it('blames the relay, not the target, when its egress address cannot be used (and the gateway may retry)', async () => {
    // 192.0.2.1 (documentation range) is on no interface of this machine: bind() fails before any packet leaves.
    const failed = connectToTarget([{ address: '127.0.0.1', port }], { localAddress: '192.0.2.1', timeoutMs: 5_000 });
    await expect(failed).rejects.toMatchObject({
      code: 'MEADOW_ERR_RELAY_BUSY',
      hop: 'relay',
      message: expect.stringContaining('egress address 192.0.2.1'),
    });
    await expect(failed).rejects.toMatchObject({ wire: { retryable: true } });
  });

  it('still blames the target for a refused connection', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expect(
      connectToTarget([{ address: '127.0.0.1', port: closedPort }], { localAddress: '127.0.0.2', timeoutMs: 5_000 }),
    ).rejects.toMatchObject({ code: 'MEADOW_ERR_TARGET_REFUSED', hop: 'target' });
  });

  it('leaves time for the next address when one never answers', async () => {
    // A listener in a stopped process with a full accept queue: the kernel drops further SYNs, as a
    // site's broken IPv6 would.
    const child = spawn(
      process.execPath,
      [
        '-e',
        "require('net').createServer().listen({ host: '127.0.0.1', port: 0, backlog: 1 }, function () { console.log(this.address().port) })",
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const fillers: Socket[] = [];
    try {
      const [line] = (await once(child.stdout, 'data')) as [Buffer];
      const silentPort = Number(line.toString().trim());
      child.kill('SIGSTOP');
      for (let i = 0; i < 4; i++) fillers.push(connect(silentPort, '127.0.0.1').on('error', () => {}));
      await new Promise((resolve) => setTimeout(resolve, 200));
      const started = performance.now();
      const { socket, target } = await connectToTarget(
        [
          { address: '127.0.0.1', port: silentPort },
          { address: '127.0.0.1', port },
        ],
        { timeoutMs: 3_000 },
      );
      expect(target.port).toBe(port);
      // The silent address got half the time; the one that answers, the rest.
      expect(performance.now() - started).toBeGreaterThan(1_400);
      expect(performance.now() - started).toBeLessThan(2_900);
      socket.destroy();
    } finally {
      for (const s of fillers) s.destroy();
      child.kill('SIGKILL');
    }
  });
});
