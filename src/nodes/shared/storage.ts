import os from 'node:os';
import path from 'node:path';
import type { NodeAPI } from 'node-red';
import { M365MailError } from '../../core/errors';
import { CheckpointStore } from '../../state';
import { ensurePrivateDirSync, readOrCreateKeyFileSync } from '../../state/key-file';

/** `<userDir>/m365-mail` (owner-only): checkpoints, UIDL sets and encrypted sign-ins of this package. Throws M365MailError 'storage'. */
export function stateDir(RED: NodeAPI): string {
  const userDir = (RED.settings as unknown as { userDir?: string }).userDir ?? path.join(os.homedir(), '.node-red');
  const dir = path.join(userDir, 'm365-mail');
  try {
    ensurePrivateDirSync(dir);
  } catch (error) {
    throw new M365MailError(`The folder ${dir} could not be created (${(error as NodeJS.ErrnoException).code ?? 'error'}).`, {
      kind: 'storage', cause: error,
      fix: `Make ${dir} a folder that the user running Node-RED may write (remove a file of that name), then restart Node-RED.`,
    });
  }
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
  return readOrCreateKeyFileSync(path.join(stateDir(RED), '.key'));
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
