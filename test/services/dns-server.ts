import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { ipv6ToBytes } from '@meadow/protocol';

/** What the test DNS server answers for one name. */
export interface DnsName {
  a?: string[];
  aaaa?: string[];
  ttl?: number;
  /** Answer after this long. */
  delayMs?: number;
  /** Never answer (a broken authoritative server). */
  silent?: boolean;
  /** Never answer AAAA queries (a middlebox that drops them), answer A as usual. */
  dropAaaa?: boolean;
  /** Answer SERVFAIL. */
  serverFailure?: boolean;
}

export interface DnsServer {
  port: number;
  /** "127.0.0.1:port", as a relay's `dns.servers` entry. */
  address: string;
  names: Map<string, DnsName>;
  /** Queries received, as "A name" / "AAAA name". */
  queries: string[];
  close(): Promise<void>;
}

const TYPE_A = 1;
const TYPE_AAAA = 28;

/**
 * A small authoritative DNS server over UDP on loopback, for tests and benchmarks: it answers A and
 * AAAA from `names` (a key `*.zone` stands for every name one label below `zone`), NXDOMAIN for
 * any other name, and can be slow, silent or failing per name.
 */
export async function startDnsServer(names: Record<string, DnsName> = {}, port = 0): Promise<DnsServer> {
  const socket: Socket = createSocket('udp4');
  let closed = false;
  const server: DnsServer = {
    port: 0,
    address: '',
    names: new Map(Object.entries(names)),
    queries: [],
    close: () => {
      closed = true;
      return new Promise((resolve) => socket.close(() => resolve()));
    },
  };
  socket.on('message', (message, peer) => {
    const query = parseQuery(message);
    if (query == null) return;
    server.queries.push(
      `${query.type === TYPE_AAAA ? 'AAAA' : query.type === TYPE_A ? 'A' : query.type} ${query.name}`,
    );
    const entry = server.names.get(query.name) ?? server.names.get(`*${query.name.slice(query.name.indexOf('.'))}`);
    if (entry?.silent || (entry?.dropAaaa && query.type === TYPE_AAAA)) return;
    const reply = answer(message, query, entry);
    // A slow answer may come due after close: it is dropped, as a stopped server's would be.
    const send = (): void => {
      if (!closed) socket.send(reply, peer.port, peer.address);
    };
    if (entry?.delayMs != null && entry.delayMs > 0) setTimeout(send, entry.delayMs).unref();
    else send();
  });
  socket.bind(port, '127.0.0.1');
  await once(socket, 'listening');
  server.port = socket.address().port;
  server.address = `127.0.0.1:${server.port}`;
  return server;
}

interface Query {
  name: string;
  type: number;
  /** Where the question section ends. */
  end: number;
}

function parseQuery(message: Buffer): Query | undefined {
  if (message.byteLength < 12 || message.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let p = 12;
  for (;;) {
    const length = message[p];
    if (length == null || length > 63) return undefined;
    p++;
    if (length === 0) break;
    labels.push(message.toString('latin1', p, p + length).toLowerCase());
    p += length;
  }
  if (p + 4 > message.byteLength) return undefined;
  return { name: labels.join('.'), type: message.readUInt16BE(p), end: p + 4 };
}

function answer(message: Buffer, query: Query, entry: DnsName | undefined): Buffer {
  const header = Buffer.from(message.subarray(0, 12));
  const question = message.subarray(12, query.end);
  const rcode = entry == null ? 3 : entry.serverFailure ? 2 : 0;
  const addresses =
    rcode !== 0 ? [] : ((query.type === TYPE_AAAA ? entry?.aaaa : query.type === TYPE_A ? entry?.a : []) ?? []);
  // QR, AA, RD copied, RA; the response code; one question, the answers, nothing else.
  header.writeUInt16BE(0x8000 | 0x0400 | (header.readUInt16BE(2) & 0x0100) | 0x0080 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(addresses.length, 6);
  header.writeUInt32BE(0, 8);
  const records = addresses.map((address) => {
    const data = query.type === TYPE_AAAA ? ipv6ToBytes(address) : Buffer.from(address.split('.').map(Number));
    const record = Buffer.alloc(12);
    record.writeUInt16BE(0xc00c, 0);
    record.writeUInt16BE(query.type, 2);
    record.writeUInt16BE(1, 4);
    record.writeUInt32BE(entry?.ttl ?? 60, 6);
    record.writeUInt16BE(data.byteLength, 10);
    return Buffer.concat([record, data]);
  });
  return Buffer.concat([header, question, ...records]);
}
