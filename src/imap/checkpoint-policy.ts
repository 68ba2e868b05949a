/**
 * Which mail qualifies and where the watcher stands: pure functions over UIDs, so the rules that
 * decide "nothing twice, nothing skipped" can be tested without a server.
 */
import type { SearchObject } from 'imapflow';
import { M365MailError } from '../core/errors';

import type { Criteria } from '../engine/options';

export type { Criteria } from '../engine/options';

/** Where the watcher stands in one folder: everything up to `lastUid` was handed over. */
export interface Checkpoint {
  uidValidity: number;
  lastUid: number;
  /**
   * When this checkpoint was last stored (ms since the epoch, wall time). After a UIDVALIDITY change
   * it is the last known point: mail that arrived later is recovered (see {@link selectRecovered}).
   */
  savedAt?: number;
}

/** What the server says about the selected folder. `endUid` is UIDNEXT - 1 (or the highest UID). */
export interface FolderState {
  uidValidity: number;
  endUid: number;
}

export type CheckpointChange = 'kept' | 'initialized' | 'uidvalidity-changed';

export interface ReconcileResult {
  checkpoint: Checkpoint;
  change: CheckpointChange;
  /** The stored checkpoint that was replaced, for the UIDVALIDITY warning. */
  previous?: Checkpoint;
}

/**
 * Decides the checkpoint to work from, given the stored one and the folder as selected now.
 *
 * - No stored checkpoint: `new` starts at the current end (only later mail qualifies); `all`,
 *   `unseen` and `custom` start at 0 (everything already there qualifies too).
 * - UIDVALIDITY changed: the old UIDs mean nothing any more, and starting at 0 would emit the whole
 *   folder again. For every criteria the watcher therefore baselines at the current end, like a
 *   first start with `new`, and the caller reports the change. When the old checkpoint knows when
 *   it was stored (`savedAt`), the watcher first recovers the mail that arrived after that
 *   ({@link buildRecoveryQuery}, {@link selectRecovered}); without it, mail that arrived while the
 *   folder was being rebuilt is not emitted, the price of never flooding a flow with old mail.
 */
export function reconcileCheckpoint(
  stored: Checkpoint | undefined,
  folder: FolderState,
  criteria: Criteria,
): ReconcileResult {
  const endUid = Math.max(0, folder.endUid);
  if (!stored) {
    return {
      checkpoint: { uidValidity: folder.uidValidity, lastUid: criteria === 'new' ? endUid : 0 },
      change: 'initialized',
    };
  }
  if (stored.uidValidity !== folder.uidValidity) {
    return {
      checkpoint: { uidValidity: folder.uidValidity, lastUid: endUid },
      change: 'uidvalidity-changed',
      previous: stored,
    };
  }
  return { checkpoint: stored, change: 'kept' };
}

/** UID set of everything after `lastUid`. Servers answer `n:*` with the highest message even when its UID is below n. */
function uidRangeAfter(lastUid: number): string {
  return `${lastUid + 1}:*`;
}

/**
 * The search for candidate mail: the criteria AND a UID greater than the checkpoint. When a custom
 * search already constrains `uid`, that constraint stays and the checkpoint is enforced by
 * {@link qualifyingUids} on the client side.
 */
export function buildSearchQuery(criteria: Criteria, lastUid: number, custom?: SearchObject): SearchObject {
  const uid = uidRangeAfter(lastUid);
  switch (criteria) {
    case 'unseen':
      return { seen: false, uid };
    case 'custom':
      if (!custom) return { uid };
      return custom.uid === undefined ? { ...custom, uid } : { ...custom };
    default:
      return { uid };
  }
}

const DAY_MS = 24 * 60 * 60_000;

/**
 * The search for mail to recover after a UIDVALIDITY change: the criteria, UIDs up to `endUid`
 * (later mail is found by the normal search), and SINCE a day before `savedAt`, because SEARCH SINCE
 * compares dates only, in the server's time zone. {@link selectRecovered} makes the exact cut.
 */
export function buildRecoveryQuery(criteria: Criteria, endUid: number, savedAt: number, custom?: SearchObject): SearchObject {
  const query = buildSearchQuery(criteria, 0, custom);
  const uid = query.uid === uidRangeAfter(0) ? `1:${Math.max(1, endUid)}` : query.uid;
  const since = new Date(savedAt - DAY_MS);
  // A custom search may have its own, later `since`: both must hold.
  const customSince = query.since === undefined ? NaN : new Date(query.since).getTime();
  return { ...query, uid, since: customSince > since.getTime() ? query.since : since };
}

/**
 * The UIDs to recover after a UIDVALIDITY change, ascending: at most `endUid`, with an INTERNALDATE
 * later than `savedAt`. INTERNALDATE has whole seconds, so mail of the second `savedAt` falls in
 * counts as older: the mail handed over just before that save nearly always shares its second, and
 * must not be emitted twice. Mail without a readable INTERNALDATE is kept rather than lost.
 */
export function selectRecovered(
  messages: ReadonlyArray<{ uid: number; internalDate?: Date | string }>,
  savedAt: number,
  endUid: number,
): number[] {
  const uids = messages
    .filter((m) => Number.isInteger(m.uid) && m.uid <= endUid)
    .filter((m) => m.internalDate === undefined || !(new Date(m.internalDate).getTime() <= savedAt))
    .map((m) => m.uid);
  return [...new Set(uids)].sort((a, b) => a - b);
}

export interface Batch {
  /** UIDs to hand over now, ascending. */
  batch: number[];
  /** How many more qualifying UIDs wait for the next batch. */
  remaining: number;
}

/**
 * The next batch from a backlog (ascending UIDs as from {@link qualifyingUids}): the UIDs after the
 * checkpoint, found by binary search, so taking batch after batch of a long backlog stays cheap.
 */
export function batchAfter(sortedUids: readonly number[], lastUid: number, batchSize: number): Batch {
  const size = Math.max(1, Math.floor(batchSize) || 1);
  const low = firstAbove(sortedUids, lastUid);
  const batch = sortedUids.slice(low, low + size);
  return { batch, remaining: sortedUids.length - low - batch.length };
}

/** Index of the first element greater than `value` in an ascending array (binary search). */
export function firstAbove(sorted: readonly number[], value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle] <= value) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** The UIDs of a search answer above the checkpoint (the `n:*` pitfall), each once, ascending. */
export function qualifyingUids(uids: readonly number[], lastUid: number): number[] {
  return [...new Set(uids)].filter((uid) => Number.isInteger(uid) && uid > lastUid).sort((a, b) => a - b);
}

/** The checkpoint after `uid` was handed over; never moves backwards. */
export function advanceCheckpoint(checkpoint: Checkpoint, uid: number): Checkpoint {
  return uid > checkpoint.lastUid ? { uidValidity: checkpoint.uidValidity, lastUid: uid } : checkpoint;
}

/**
 * Reads the `customCriteria` property (JSON text or an object) into an imapflow search object.
 * @throws M365MailError kind 'config' when it is not a JSON object
 */
export function parseCustomCriteria(value: string | object | undefined): SearchObject {
  let parsed: unknown = value;
  if (typeof value === 'string') {
    if (!value.trim()) return {};
    try {
      parsed = JSON.parse(value);
    } catch (err) {
      throw new M365MailError('customCriteria is not valid JSON', {
        kind: 'config',
        fix: 'Enter a JSON object in imapflow search syntax, e.g. {"from": "billing@example.com", "seen": false}.',
        cause: err,
      });
    }
  }
  if (parsed === undefined || parsed === null) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new M365MailError('customCriteria must be a JSON object', {
      kind: 'config',
      fix: 'Enter a JSON object in imapflow search syntax, e.g. {"subject": "invoice"}.',
    });
  }
  return parsed as SearchObject;
}

/** Compact UID set for a FETCH: ascending runs become `a:b`, e.g. [1,2,3,7] → "1:3,7". */
export function compactUidSet(uids: readonly number[]): string {
  const sorted = [...new Set(uids)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const start = sorted[i];
    while (i + 1 < sorted.length && sorted[i + 1] === sorted[i] + 1) i++;
    parts.push(start === sorted[i] ? String(start) : `${start}:${sorted[i]}`);
  }
  return parts.join(',');
}
