/**
 * Which queued actions go into the next command. Actions waiting for the same connection are
 * merged when they agree on folder, action, keyword, target and UIDVALIDITY, so a backlog that is
 * acknowledged mail by mail becomes one UID set per command. The order in which actions on the
 * same mail were asked for is kept: an action is not taken ahead of an earlier, different one on
 * one of its UIDs. Pure: no I/O.
 */
import type { ActionBatch } from './apply';

/** Largest UID set per command: keeps command lines well within what servers accept. */
export const MAX_UIDS_PER_COMMAND = 500;
/** `fetch` downloads whole mails: fewer per command keeps memory flat. */
export const MAX_UIDS_PER_FETCH = 20;

export interface Queued {
  batch: ActionBatch;
}

/** Mails with the same key can share one command. */
export function batchKey(batch: ActionBatch): string {
  return JSON.stringify([batch.folder, batch.action, batch.keyword ?? '', batch.target ?? '', batch.uidValidity ?? '']);
}

/**
 * Takes the first queued action and every later one that can share its command (up to the size
 * limit, never past an earlier different action on the same mail). Removes them from `queue`.
 * @returns the items taken (in queue order) and the merged batch
 */
export function takeBatch<T extends Queued>(queue: T[]): { items: T[]; batch: ActionBatch } | undefined {
  const first = queue[0];
  if (!first) return undefined;
  const key = batchKey(first.batch);
  const limit = first.batch.action === 'fetch' ? MAX_UIDS_PER_FETCH : MAX_UIDS_PER_COMMAND;
  const taken: T[] = [];
  const uids = new Set<number>();
  // UIDs (per folder) of actions left behind: a later action on one of them must wait its turn.
  const passed = new Set<string>();
  const rest: T[] = [];
  for (const item of queue) {
    const sameKey = batchKey(item.batch) === key;
    const blocked = item.batch.uids.some((uid) => passed.has(`${item.batch.folder}\n${uid}`));
    const fits = taken.length === 0 || uids.size + item.batch.uids.length <= limit;
    if (sameKey && !blocked && fits) {
      taken.push(item);
      for (const uid of item.batch.uids) uids.add(uid);
    } else {
      rest.push(item);
      for (const uid of item.batch.uids) passed.add(`${item.batch.folder}\n${uid}`);
    }
  }
  queue.splice(0, queue.length, ...rest);
  return { items: taken, batch: { ...first.batch, uids: [...uids] } };
}
