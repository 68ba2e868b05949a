import type { CheckpointStore } from './checkpoint-store';

/** A disposition that failed and waits for its retry (kept with the checkpoint, so a restart still applies it). */
export interface StoredPendingDisposition {
  uid: number;
  attempts: number;
}

/** Where an IMAP folder was read up to: mail with a higher UID under the same UIDVALIDITY is new. */
export interface ImapCheckpoint {
  /** UIDVALIDITY of the folder, as a decimal string (imapflow reports a bigint). */
  uidValidity: string;
  /** Highest UID already emitted. */
  lastUid: number;
  /** ISO time of the save. */
  updatedAt: string;
  /**
   * When the watcher stored it (ms since the epoch, wall time): after a UIDVALIDITY change, mail
   * that arrived later is recovered. Records written before it existed fall back to `updatedAt`.
   */
  savedAt?: number;
  /** Dispositions of mails up to `lastUid` (same UIDVALIDITY) still to be applied. */
  pending?: StoredPendingDisposition[];
}

/** What the watcher stores; `savedAt` defaults to now. */
export interface ImapCheckpointPosition {
  uidValidity: string | number | bigint;
  lastUid: number;
  savedAt?: number;
  pending?: readonly StoredPendingDisposition[];
}

function isUid(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isPendingList(value: unknown): value is StoredPendingDisposition[] {
  return Array.isArray(value) && value.every((item: unknown) => {
    const entry = item as Partial<StoredPendingDisposition> | null;
    return typeof entry === 'object' && entry !== null && isUid(entry.uid) && isUid(entry.attempts);
  });
}

function isImapCheckpoint(value: unknown): value is ImapCheckpoint {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Partial<ImapCheckpoint>;
  return (
    typeof record.uidValidity === 'string' &&
    /^\d+$/.test(record.uidValidity) &&
    isUid(record.lastUid) &&
    typeof record.updatedAt === 'string' &&
    (record.savedAt === undefined || (typeof record.savedAt === 'number' && Number.isFinite(record.savedAt))) &&
    (record.pending === undefined || isPendingList(record.pending))
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
  const savedAt = value.savedAt ?? Date.parse(value.updatedAt);
  return {
    uidValidity: value.uidValidity,
    lastUid: value.lastUid,
    updatedAt: value.updatedAt,
    ...(Number.isFinite(savedAt) ? { savedAt } : {}),
    ...(value.pending?.length ? { pending: value.pending.map(({ uid, attempts }) => ({ uid, attempts })) } : {}),
  };
}

/** Durably stores the checkpoint for `key` and returns what was stored. */
export async function saveImapCheckpoint(store: CheckpointStore, key: string, position: ImapCheckpointPosition): Promise<ImapCheckpoint> {
  const uidValidity = String(position.uidValidity);
  if (!/^\d+$/.test(uidValidity) || !isUid(position.lastUid)) {
    throw new TypeError(`Invalid IMAP checkpoint ${uidValidity}/${position.lastUid}`);
  }
  const savedAt = position.savedAt ?? Date.now();
  const checkpoint: ImapCheckpoint = { uidValidity, lastUid: position.lastUid, updatedAt: new Date(savedAt).toISOString(), savedAt };
  if (position.pending?.length) checkpoint.pending = position.pending.map(({ uid, attempts }) => ({ uid, attempts }));
  await store.set(key, checkpoint);
  return checkpoint;
}
