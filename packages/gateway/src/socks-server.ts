import { createServer, type Server, type Socket } from 'node:net';
import { bridge, Deadline, type Tunnel } from '@meadow/protocol';
import type { Principal } from './customers.ts';
import { asMeadowError } from './proxy-errors.ts';
import {
  HandshakeReader,
  readSocksCredentials,
  readSocksRequest,
  SocksProtocolError,
  SocksReply,
  sendAuthResult,
  sendSocksReply,
  socksReplyFor,
} from './socks5.ts';
import type { TunnelService } from './tunnel-service.ts';

export interface SocksServerInit {
  handshakeTimeoutMs: number;
}

export function createSocksServer(service: TunnelService, init: SocksServerInit): Server {
  return createServer(
    { pauseOnConnect: true, noDelay: true, allowHalfOpen: true },
    (socket) => void handleSocks(service, socket, init),
  );
}

async function handleSocks(service: TunnelService, socket: Socket, init: SocksServerInit): Promise<void> {
  socket.on('error', () => {});
  const handshake = new Deadline(init.handshakeTimeoutMs);
  const reader = new HandshakeReader(socket, handshake.signal);
  let stage: 'auth' | 'request' | 'connect' = 'auth';
  let tunnel: Tunnel | undefined;
  try {
    const credentials = await readSocksCredentials(reader);
    let principal: Principal;
    try {
      principal = service.authenticate(credentials, 'socks5', socket);
    } catch (err) {
      sendAuthResult(socket, false);
      throw err;
    }
    sendAuthResult(socket, true);
    stage = 'request';
    const target = await readSocksRequest(reader);
    reader.release();
    handshake.clear();
    stage = 'connect';
    ({ tunnel } = await service.open('socks5', principal, target, socket));
  } catch (err) {
    if (stage !== 'auth') {
      const reply =
        err instanceof SocksProtocolError
          ? (err.reply ?? SocksReply.GENERAL_FAILURE)
          : socksReplyFor(asMeadowError(err));
      sendSocksReply(socket, reply);
    }
    reader.release();
    handshake.clear();
    socket.end();
    socket.destroySoon();
    return;
  }
  if (socket.destroyed) {
    tunnel.destroy();
    return;
  }
  const info = tunnel.info;
  sendSocksReply(
    socket,
    SocksReply.SUCCEEDED,
    info == null ? undefined : { address: info.localAddress, port: info.localPort },
  );
  await bridge(socket, tunnel);
}
