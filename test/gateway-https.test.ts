import { mkdtemp, rename, rm } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { type LocalNetwork, startLocalNetwork } from '@meadow/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anotherGatewayConfig, curl, runMeadow, waitFor } from './harness.ts';
import { freePort } from './services/free-port.ts';
import { selfSignedCertificate } from './services/self-signed.ts';

// The HTTP proxy over TLS: crawlers' API keys never cross the network in the clear, and the
// operator renews the certificate without a restart.

let net: LocalNetwork;
let dir: string;
let port: number;
let certificate: { certFile: string; keyFile: string; cert: Buffer };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meadow-https-'));
  certificate = await selfSignedCertificate(dir);
  port = await freePort();
  net = await startLocalNetwork({
    dir,
    relays: 1,
    gatewayConfig: {
      https: { host: '127.0.0.1', port, certFile: certificate.certFile, keyFile: certificate.keyFile },
    },
  });
  await net.waitForRoutableRelays(1, 60_000);
}, 120_000);

afterAll(async () => {
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
});

const viaTls = (caFile: string, user: string, key: string, extra: string[] = []) => [
  '--proxy',
  `https://127.0.0.1:${port}`,
  '--proxy-cacert',
  caFile,
  '-U',
  `${user}:${key}`,
  ...extra,
];

/** The subject's CN of the certificate a new TLS connection to the https port is given. */
function servedCommonName(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectTls({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(String(socket.getPeerCertificate().subject.CN));
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

describe('the HTTP proxy over TLS', () => {
  it('forwards absolute-URI requests and CONNECT tunnels, with the exit named, and serves /account', async () => {
    const { name, apiKey } = net.customer;
    const forwarded = await curl([...viaTls(certificate.certFile, name, apiKey), `${net.origin.url}bytes/1000`]);
    expect(forwarded.code, forwarded.headers).toBe(0);
    expect(forwarded.status).toBe(200);
    expect(forwarded.headers).toMatch(/x-meadow-relay: 12D3KooW/i);
    const tunnelled = await curl([
      ...viaTls(certificate.certFile, name, apiKey, ['-p']),
      `${net.origin.url}bytes/1000`,
    ]);
    expect(tunnelled.status).toBe(200);
    expect(tunnelled.headers).toMatch(/HTTP\/1\.1 200 Connection established[\s\S]*x-meadow-relay: 12D3KooW/i);
    const account = await curl([
      '--cacert',
      certificate.certFile,
      '-u',
      `${name}:${apiKey}`,
      `https://127.0.0.1:${port}/account`,
    ]);
    expect(account.status).toBe(200);
    expect(JSON.parse(account.body)).toMatchObject({ customer: name });
  });

  it('answers a wrong key and a forbidden target with the same errors as the plain port', async () => {
    const wrongKey = await curl([...viaTls(certificate.certFile, net.customer.name, 'nope'), `${net.origin.url}`]);
    expect(wrongKey.status).toBe(407);
    expect(wrongKey.headers).toMatch(/x-meadow-error: MEADOW_ERR_AUTH_REQUIRED/i);
    expect(wrongKey.headers).toMatch(/proxy-authenticate: Basic realm="meadow"/i);
    const forbidden = await curl([
      ...viaTls(certificate.certFile, net.customer.name, net.customer.apiKey),
      'http://192.168.1.1/',
    ]);
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers).toMatch(/x-meadow-error: MEADOW_ERR_TARGET_FORBIDDEN/i);
  });

  it('exports when the certificate expires, for an alert before it does', async () => {
    const text = await (await fetch(`${net.gateway.adminUrl}/metrics`)).text();
    const at = Number(/^meadow_gateway_tls_certificate_expiry_timestamp_seconds (\S+)$/m.exec(text)?.[1]);
    const days = (at * 1000 - Date.now()) / 86_400_000;
    // The test certificate is made for 30 days.
    expect(days).toBeGreaterThan(29);
    expect(days).toBeLessThanOrEqual(30);
  });

  it('closes a client that speaks plain HTTP to the TLS port, and keeps serving', async () => {
    const socket = connectTcp(port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(`GET ${net.origin.url} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await new Promise((resolve) => socket.on('close', resolve));
    const after = await curl([
      ...viaTls(certificate.certFile, net.customer.name, net.customer.apiKey),
      `${net.origin.url}bytes/10`,
    ]);
    expect(after.status).toBe(200);
  });

  it('serves a renewed certificate after SIGHUP without dropping anything, and keeps the old one if the new one is broken', async () => {
    expect(await servedCommonName()).toBe('meadow-test');
    const renewed = await selfSignedCertificate(dir, 'meadow-renewed', 'next-');
    // As certbot does: the new files take the old names.
    await rename(renewed.certFile, certificate.certFile);
    await rename(renewed.keyFile, certificate.keyFile);
    net.gateway.service.process.kill('SIGHUP');
    await waitFor(async () => (await servedCommonName()) === 'meadow-renewed', 5_000);
    const after = await curl([
      ...viaTls(certificate.certFile, net.customer.name, net.customer.apiKey),
      `${net.origin.url}bytes/10`,
    ]);
    expect(after.status).toBe(200);
    // A key that does not match: the gateway says so and keeps serving the certificate it has.
    const other = await selfSignedCertificate(dir, 'meadow-other', 'other-');
    await rename(other.keyFile, certificate.keyFile);
    net.gateway.service.process.kill('SIGHUP');
    await waitFor(() => /TLS certificate not reloaded/.test(net.gateway.service.tail()), 5_000);
    expect(net.gateway.service.tail()).toMatch(/is not the private key of/);
    expect(await servedCommonName()).toBe('meadow-renewed');
  });

  it('will not start with a key that does not belong to the certificate, and says which file is wrong', async () => {
    const broken = await selfSignedCertificate(dir, 'meadow-broken', 'broken-');
    const other = await selfSignedCertificate(dir, 'meadow-other2', 'other2-');
    const path = await anotherGatewayConfig(net.gateway.configPath, dir, 'gateway-broken', {
      https: { host: '127.0.0.1', port: 0, certFile: broken.certFile, keyFile: other.keyFile },
    });
    const run = await runMeadow(['gateway', 'start', '--config', path], 30_000);
    expect(run.code).toBe(1);
    expect(run.stdout + run.stderr).toMatch(
      /https\.keyFile: .*other2-key\.pem is not the private key of .*broken-cert\.pem/,
    );
    expect(run.stderr).not.toMatch(/^\s+at /m); // one line for the operator, not a stack
  });
});
