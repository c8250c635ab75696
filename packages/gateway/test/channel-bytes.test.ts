import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { type OpenRequest, socketLink, type Tunnel, TunnelMux } from '@meadow/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelBytes } from '../src/channel-bytes.ts';

let opener: TunnelMux;
const sockets: Socket[] = [];
const server = createServer((socket) => {
  sockets.push(socket);
  // The far end echoes every tunnel's bytes, and ends when the tunnel does.
  new TunnelMux(socketLink(socket), {
    onOpen: (request: OpenRequest) => {
      request.accept({ remoteAddress: '127.0.0.1', remotePort: 80, localAddress: '', localPort: 0 });
      request.tunnel.on('data', (chunk: Buffer) => request.tunnel.write(chunk));
      request.tunnel.once('end', () => request.tunnel.end());
    },
  });
});

beforeAll(async () => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  sockets.push(client);
  opener = new TunnelMux(socketLink(client));
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  server.close();
});

/** Sends `bytes` through the tunnel and waits for the echo. */
async function roundTrip(tunnel: Tunnel, bytes: number): Promise<void> {
  let back = 0;
  const echoed = new Promise<void>((resolve) => {
    const onData = (chunk: Buffer): void => {
      back += chunk.byteLength;
      if (back < bytes) return;
      tunnel.off('data', onData);
      resolve();
    };
    tunnel.on('data', onData);
  });
  tunnel.write(Buffer.alloc(bytes, 7));
  await echoed;
}

const counts = (bytes: number, tunnels: number) => ({ bytesToTarget: bytes, bytesFromTarget: bytes, tunnels });

describe('ChannelBytes', () => {
  it("splits a relay's bytes by customer, live, and counts from the last settled split", async () => {
    const channels = new ChannelBytes();
    const acme = await opener.open({ host: '127.0.0.1', port: 80 });
    const zenith = await opener.open({ host: '127.0.0.1', port: 80 });
    channels.track('relay-a', 'acme', acme);
    channels.track('relay-a', 'zenith', zenith);
    await roundTrip(acme, 1_000);
    await roundTrip(zenith, 300);
    const first = channels.split('relay-a');
    expect(first).toEqual(
      new Map([
        ['acme', counts(1_000, 1)],
        ['zenith', counts(300, 1)],
      ]),
    );
    expect(channels.split('relay-b')).toEqual(new Map());

    // Settled while both tunnels are open: only what moves afterwards is counted.
    channels.settle('relay-a', first);
    await roundTrip(acme, 500);
    expect(channels.split('relay-a')).toEqual(
      new Map([
        ['acme', counts(500, 0)],
        ['zenith', counts(0, 0)],
      ]),
    );
    acme.end();
    zenith.end();
    await Promise.all([once(acme, 'close'), once(zenith, 'close')]);
    // Closing moves a tunnel's bytes from live to closed without changing the split.
    const second = channels.split('relay-a');
    expect(second).toEqual(new Map([['acme', counts(500, 0)]]));
    expect(channels.relays()).toEqual(['relay-a']);

    // zenith had nothing unsettled and no open tunnel: forgotten at its close. acme at its settlement.
    channels.settle('relay-a', second);
    expect(channels.relays()).toEqual([]);
    expect(channels.split('relay-a')).toEqual(new Map());
  });

  it("totals a relay's customers live, and forgets a relay only while none of its tunnels is open", async () => {
    const channels = new ChannelBytes();
    const acme = await opener.open({ host: '127.0.0.1', port: 80 });
    const zenith = await opener.open({ host: '127.0.0.1', port: 80 });
    channels.track('relay-a', 'acme', acme);
    channels.track('relay-a', 'zenith', zenith);
    await roundTrip(acme, 700);
    await roundTrip(zenith, 200);
    expect(channels.total('relay-a')).toEqual(counts(900, 2));
    expect(channels.total('relay-b')).toEqual(counts(0, 0));

    expect(channels.forget('relay-a')).toBe(false);
    expect(channels.total('relay-a')).toEqual(counts(900, 2));
    acme.end();
    zenith.end();
    await Promise.all([once(acme, 'close'), once(zenith, 'close')]);
    expect(channels.total('relay-a')).toEqual(counts(900, 2));
    expect(channels.forget('relay-a')).toBe(true);
    expect(channels.relays()).toEqual([]);
    expect(channels.total('relay-a')).toEqual(counts(0, 0));
  });
});
