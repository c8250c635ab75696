import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';

/**
 * Loads the node's ed25519 identity, creating it (mode 0600) on first run.
 * The peer id derived from it is the node's identity in the DHT and the ledger.
 */
export async function loadOrCreateIdentity(path: string): Promise<{ privateKey: PrivateKey; created: boolean }> {
  let bytes: Buffer | undefined;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (bytes != null) {
    const privateKey = privateKeyFromProtobuf(bytes);
    if (privateKey.type !== 'Ed25519')
      throw new Error(`${path}: identity key must be Ed25519, found ${privateKey.type}`);
    return { privateKey, created: false };
  }
  const privateKey = await generateKeyPair('Ed25519');
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, privateKeyToProtobuf(privateKey), { mode: 0o600, flag: 'wx' });
  await chmod(path, 0o600);
  return { privateKey, created: true };
}
