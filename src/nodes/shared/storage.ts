import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NodeAPI } from 'node-red';
import { CheckpointStore } from '../../state';

/** `<userDir>/m365-mail`: checkpoints, UIDL sets and encrypted sign-ins of this package. */
export function stateDir(RED: NodeAPI): string {
  const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? path.join(os.homedir(), '.node-red');
  const dir = path.join(userDir, 'm365-mail');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** File of the encrypted delegated sign-in of one m365-account node. */
export function tokenCacheFile(RED: NodeAPI, accountId: string): string {
  return path.join(stateDir(RED), `account-${accountId.replace(/[^A-Za-z0-9._-]/g, '_')}.tokens`);
}

/**
 * The secret the stored sign-in is encrypted with: Node-RED's credentialSecret (user-set or the one
 * Node-RED generated). With credential encryption switched off (credentialSecret: false), a random
 * key kept beside the cache with owner-only permissions is the best that can be done.
 */
export function cacheSecret(RED: NodeAPI): string {
  const settings = RED.settings as unknown as { get(name: string): unknown };
  const read = (name: string): unknown => {
    try {
      return settings.get(name);
    } catch {
      return undefined;
    }
  };
  const configured = read('credentialSecret');
  if (typeof configured === 'string' && configured) return configured;
  const generated = read('_credentialSecret');
  if (typeof generated === 'string' && generated) return generated;
  const keyFile = path.join(stateDir(RED), '.key');
  if (!existsSync(keyFile)) {
    writeFileSync(keyFile, randomBytes(32).toString('hex'), { mode: 0o600 });
    chmodSync(keyFile, 0o600);
  }
  return readFileSync(keyFile, 'utf8').trim();
}

const stores = new Map<string, CheckpointStore>();

/** One CheckpointStore per state directory, so writes to a key are serialized across nodes. */
export function checkpointStore(RED: NodeAPI): CheckpointStore {
  const dir = stateDir(RED);
  let store = stores.get(dir);
  if (!store) {
    store = new CheckpointStore(dir, { onWarning: (text) => RED.log.warn(`m365-mail: ${text}`) });
    stores.set(dir, store);
  }
  return store;
}
