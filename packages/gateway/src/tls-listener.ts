import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { Server } from 'node:net';
import { createSecureContext, createServer, type Server as TlsServer } from 'node:tls';
import { SetupError } from '@meadow/protocol';

export interface TlsListenAddress {
  host: string;
  port: number;
  /** PEM certificate chain and private key, e.g. Let's Encrypt's fullchain.pem and privkey.pem. */
  certFile: string;
  keyFile: string;
}

export interface LoadedCertificate {
  cert: Buffer;
  key: Buffer;
  subject: string;
  validTo: Date;
  /** The files' modification times when loaded, to notice a renewal. */
  stamp: string;
}

/** Loads and checks a certificate and its key; the error names the file and what is wrong with it. */
export async function loadCertificate(
  init: Pick<TlsListenAddress, 'certFile' | 'keyFile'>,
): Promise<LoadedCertificate> {
  const read = async (key: 'certFile' | 'keyFile'): Promise<Buffer> => {
    try {
      return await readFile(init[key]);
    } catch (err) {
      throw new SetupError(`https.${key}`, `cannot read ${init[key]} (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
  };
  const [cert, key] = await Promise.all([read('certFile'), read('keyFile')]);
  let parsed: X509Certificate;
  try {
    parsed = new X509Certificate(cert);
  } catch (err) {
    throw new SetupError('https.certFile', `${init.certFile} holds no PEM certificate (${(err as Error).message})`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new SetupError(
      'https.keyFile',
      `${init.keyFile} is not the private key of ${init.certFile} (${(err as Error).message})`,
    );
  }
  return {
    cert,
    key,
    subject: parsed.subject.replaceAll('\n', ', '),
    validTo: new Date(parsed.validTo),
    stamp: await stampOf(init),
  };
}

async function stampOf(init: Pick<TlsListenAddress, 'certFile' | 'keyFile'>): Promise<string> {
  const [c, k] = await Promise.all([stat(init.certFile), stat(init.keyFile)]);
  return `${c.mtimeMs}:${c.size}:${k.mtimeMs}:${k.size}`;
}

/**
 * The HTTP proxy over TLS (`curl --proxy https://gw:8443`): crawlers' API keys never cross the
 * network in the clear. Each connection, once its TLS handshake is done, is handed to the same
 * HTTP proxy server as a plain one, so CONNECT, absolute-URI requests and `/account` behave alike.
 */
export class TlsListener {
  readonly server: TlsServer;
  private readonly init: TlsListenAddress;
  private current: LoadedCertificate;

  constructor(init: TlsListenAddress, certificate: LoadedCertificate, proxy: Server, handshakeTimeoutMs: number) {
    this.init = init;
    this.current = certificate;
    this.server = createServer(
      {
        cert: certificate.cert,
        key: certificate.key,
        handshakeTimeout: handshakeTimeoutMs,
        minVersion: 'TLSv1.2',
        ALPNProtocols: ['http/1.1'],
      },
      (socket) => proxy.emit('connection', socket),
    );
    // A client that fails its handshake (plain HTTP sent to this port, an old TLS version) is only closed.
    this.server.on('tlsClientError', (_err, socket) => socket.destroy());
  }

  get certificate(): Readonly<LoadedCertificate> {
    return this.current;
  }

  /**
   * Loads the files again if they changed since the last load (`force`: in any case); new
   * connections get the new certificate, open ones keep theirs. Resolves with the certificate now
   * served, or undefined if nothing changed; a file that does not load leaves the old one in use.
   */
  async reload(force = false): Promise<LoadedCertificate | undefined> {
    if (!force && (await stampOf(this.init).catch(() => this.current.stamp)) === this.current.stamp) return undefined;
    const next = await loadCertificate(this.init);
    this.server.setSecureContext({ cert: next.cert, key: next.key, minVersion: 'TLSv1.2' });
    this.current = next;
    return next;
  }
}
