import type { CheckpointStore } from './checkpoint-store';

/** Where an IMAP folder was read up to: mail with a higher UID under the same UIDVALIDITY is new. */
export interface ImapCheckpoint {
  /** UIDVALIDITY of the folder, as a decimal string (imapflow reports a bigint). */
  uidValidity: string;
  /** Highest UID already emitted. */
  lastUid: number;
  /** ISO time of the save. */
  updatedAt: string;
}

function isImapCheckpoint(value: unknown): value is ImapCheckpoint {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Partial<ImapCheckpoint>;
  return (
    typeof record.uidValidity === 'string' &&
    /^\d+$/.test(record.uidValidity) &&
    typeof record.lastUid === 'number' &&
    Number.isSafeInteger(record.lastUid) &&
    record.lastUid >= 0 &&
    typeof record.updatedAt === 'string'
  );
}

/**
 * The stored checkpoint for `key` (node id + mailbox + folder), or undefined when there is none.
 * A record of the wrong shape is reported through the store's warning listener and ignored.
 */
export async function loadImapCheckpoint(store: CheckpointStore, key: string): Promise<ImapCheckpoint | undefined> {
  const value = await store.get<unknown>(key);
  if (value === undefined) return undefined;
  if (!isImapCheckpoint(value)) {
    store.onWarning(`IMAP checkpoint for "${key}" has an unexpected shape and was ignored.`);
    return undefined;
  }
  return { uidValidity: value.uidValidity, lastUid: value.lastUid, updatedAt: value.updatedAt };
}

/** Durably stores the checkpoint for `key` and returns what was stored. */
export async function saveImapCheckpoint(
  store: CheckpointStore,
  key: string,
  position: { uidValidity: string | number | bigint; lastUid: number },
): Promise<ImapCheckpoint> {
  const uidValidity = String(position.uidValidity);
  if (!/^\d+$/.test(uidValidity) || !Number.isSafeInteger(position.lastUid) || position.lastUid < 0) {
    throw new TypeError(`Invalid IMAP checkpoint ${uidValidity}/${position.lastUid}`);
  }
  const checkpoint: ImapCheckpoint = { uidValidity, lastUid: position.lastUid, updatedAt: new Date().toISOString() };
  await store.set(key, checkpoint);
  return checkpoint;
}
