import { once } from 'node:events';
import { createServer } from 'node:http';
import { createDiscovery, serveDialBack } from '@meadow/discovery';
import { MEADOW_VERSION, tokenChallenge, tokenCheck } from '@meadow/protocol';
import { Counter, Gauge } from 'prom-client';
import { checkBootstrapAddresses, warnWithoutPublicAddress } from '../bootstrap-check.ts';
import { bootstrapConfig, loadConfig, relativeTo } from '../config.ts';
import { createLogger } from '../logger.ts';
import { createRegistry } from '../registry.ts';
import { runUntilSignal } from '../run-service.ts';
import { readTokenFile } from '../token-file.ts';

export const bootstrapHelp = `meadow bootstrap --config <file>

Runs a bootstrap node of the private Meadow DHT (/meadow/kad/1.0.0). Relays and gateways list
its multiaddr under network.bootstrap. Its identity is kept in the 'identity' file, so it keeps
the same peer id (and multiaddr) across restarts.

It also dials nodes back when they ask (/meadow/dial-back/1.0.0, dialBack: true): \`meadow gateway
doctor\` asks, to learn whether a gateway is reachable from outside its own network. Only the
address a request comes from is ever dialled, a few requests at a time.

Example config: config/bootstrap.example.yaml`;

export async function bootstrapCommand(args: { config: string }): Promise<number> {
  const config = await loadConfig(args.config, bootstrapConfig);
  checkBootstrapAddresses(args.config, config.network);
  const log = createLogger('bootstrap', config.log.level, config.log.format);
  const registry = createRegistry('bootstrap');
  const handle = await createDiscovery({
    identityPath: relativeTo(args.config, config.identity),
    listen: config.network.listen,
    announce: config.network.announce,
    bootstrap: config.network.bootstrap,
    dhtMode: 'server',
    allowPrivateAddresses: config.network.allowPrivateAddresses,
    agentVersion: `meadow-bootstrap/${MEADOW_VERSION}`,
    registry,
  });
  // Counted as connections open and close: libp2p lists all connections in time quadratic in the
  // number of peers, and a bootstrap node is connected to the whole network.
  let connections = handle.node.getConnections().length;
  handle.node.addEventListener('connection:open', () => connections++);
  handle.node.addEventListener('connection:close', () => connections--);
  new Gauge({
    name: 'meadow_dht_connected_peers',
    help: 'Connections this node has open now (one per peer, as a rule)',
    registers: [registry],
    collect() {
      this.set(connections);
    },
  });
  if (config.dialBack) {
    const requests = new Counter({
      name: 'meadow_bootstrap_dial_back_requests_total',
      help: 'Requests to dial a node back at its own addresses, by what came of them: answered, busy (too many at once), malformed',
      labelNames: ['result'],
      registers: [registry],
    });
    for (const result of ['answered', 'busy', 'malformed']) requests.inc({ result }, 0);
    await serveDialBack(handle.node, { onRequest: (result) => requests.inc({ result }) });
  }
  let metricsUrl: string | undefined;
  const tokenFile = config.metrics?.tokenFile;
  const carriesToken =
    tokenFile == null
      ? undefined
      : tokenCheck(await readTokenFile('metrics.tokenFile', relativeTo(args.config, tokenFile)));
  const server =
    config.metrics == null
      ? undefined
      : createServer((req, res) => {
          if (carriesToken != null && !carriesToken(req.headers.authorization))
            return void res
              .writeHead(401, { 'www-authenticate': tokenChallenge('meadow bootstrap metrics') })
              .end('the metrics token is missing or wrong\n');
          if (req.url !== '/metrics') return void res.writeHead(404).end();
          void registry
            .metrics()
            .then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
        });
  if (server != null && config.metrics != null) {
    server.listen(config.metrics.port, config.metrics.host);
    await once(server, 'listening');
    const a = server.address() as { address: string; port: number };
    metricsUrl = `http://${a.address}:${a.port}/metrics`;
  }
  const multiaddrs = handle.node.getMultiaddrs().map(String);
  const stopped = runUntilSignal(log, async () => {
    server?.close();
    await handle.stop();
  });
  log.info(
    { peerId: handle.node.peerId.toString(), multiaddrs, metricsUrl, identityCreated: handle.identityCreated },
    'ready',
  );
  warnWithoutPublicAddress(log, multiaddrs, config.network, 'this bootstrap node');
  return stopped;
}
