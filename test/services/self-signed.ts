import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A self-signed certificate for 127.0.0.1 made with Debian's openssl, written as cert.pem and key.pem in `dir`. */
export async function selfSignedCertificate(
  dir: string,
  commonName = 'meadow-test',
  prefix = '',
  days = 30,
): Promise<{ certFile: string; keyFile: string; cert: Buffer }> {
  const certFile = join(dir, `${prefix}cert.pem`);
  const keyFile = join(dir, `${prefix}key.pem`);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    String(days),
    '-subj',
    `/CN=${commonName}`,
    '-addext',
    'subjectAltName=IP:127.0.0.1',
  ]);
  return { certFile, keyFile, cert: await readFile(certFile) };
}

/**
 * A certificate that expired on 2 January 2020 and its key, as cert.pem and key.pem in `dir`
 * (`openssl req -x509` cannot date a certificate in the past; `openssl ca` can).
 */
export async function expiredCertificate(
  dir: string,
  prefix = 'expired-',
): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(dir, `${prefix}cert.pem`);
  const keyFile = join(dir, `${prefix}key.pem`);
  const ca = await mkdtemp(join(dir, 'ca-'));
  try {
    await run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
    const csr = join(ca, 'request.csr');
    await run('openssl', ['req', '-new', '-key', keyFile, '-subj', '/CN=meadow-expired', '-out', csr]);
    await writeFile(join(ca, 'index.txt'), '');
    await writeFile(join(ca, 'serial'), '01\n');
    const config = join(ca, 'ca.cnf');
    await writeFile(
      config,
      `[ca]\ndefault_ca = here\n[here]\ndatabase = ${ca}/index.txt\nnew_certs_dir = ${ca}\nserial = ${ca}/serial\ndefault_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n`,
    );
    await run('openssl', [
      'ca',
      '-batch',
      '-notext',
      '-config',
      config,
      '-selfsign',
      '-keyfile',
      keyFile,
      '-in',
      csr,
      '-startdate',
      '20200101000000Z',
      '-enddate',
      '20200102000000Z',
      '-out',
      certFile,
    ]);
  } finally {
    await rm(ca, { recursive: true, force: true });
  }
  return { certFile, keyFile };
}
