/**
 * What happens to a mail on the server after it was handed over: mark read, flag, move or delete.
 * imapflow's boolean answers are not enough (a STORE on a vanished UID answers OK, and a refused
 * STORE inside messageDelete used to look like success), so every disposition is verified against
 * the server afterwards. A failed one is queued and retried; it never holds back the checkpoint.
 */
import type { CopyResponseObject, FetchMessageObject, FetchQueryObject, FetchOptions, MessageRangeOptions, SearchObject, SearchOptions, StoreOptions } from 'imapflow';
import type { M365MailError } from '../core/errors';
import type { Disposition } from '../engine/options';
import { dispositionError, toImapError } from './errors';

export type { Disposition } from '../engine/options';

/** The part of an imapflow client that dispositions use. */
export interface DispositionClient {
  messageFlagsAdd(range: string, flags: string[], options?: StoreOptions): Promise<boolean>;
  messageMove(range: string, destination: string, options?: MessageRangeOptions): Promise<CopyResponseObject | false>;
  messageDelete(range: string, options?: MessageRangeOptions): Promise<boolean>;
  fetchOne(seq: string, query: FetchQueryObject, options?: FetchOptions): Promise<FetchMessageObject | false>;
  search(query: SearchObject, options?: SearchOptions): Promise<number[] | false | undefined | object>;
}

/** Outcome of checking a disposition against the server. */
export type DispositionCheck =
  | { ok: true }
  | { ok: false; retryable: boolean; reason: string };

const FLAG_OF: Record<'read' | 'flag', string> = { read: '\\Seen', flag: '\\Flagged' };

/**
 * Judges a STORE: it worked only if the flag is now on the message.
 * @param stored what messageFlagsAdd returned
 * @param flagsAfter the message's flags fetched afterwards; `false` when the message is gone
 */
export function checkFlagResult(stored: boolean, flagsAfter: Set<string> | false | undefined, flag: string): DispositionCheck {
  if (flagsAfter === false) return { ok: false, retryable: false, reason: 'the mail is no longer in the folder' };
  if (flagsAfter && [...flagsAfter].some((f) => f.toLowerCase() === flag.toLowerCase())) return { ok: true };
  if (!stored) return { ok: false, retryable: true, reason: `the server refused to set ${flag}` };
  return { ok: false, retryable: true, reason: `the server answered OK but ${flag} is not set` };
}

/**
 * Judges a MOVE: the server reported the UID in COPYUID, or at least the mail left the folder.
 * @param stillPresent whether the UID is still in the source folder (checked when COPYUID is missing)
 */
export function checkMoveResult(result: CopyResponseObject | false | undefined, uid: number, stillPresent: boolean | undefined): DispositionCheck {
  if (result && result.uidMap?.has(uid)) return { ok: true };
  if (stillPresent === false) return result ? { ok: true } : { ok: false, retryable: false, reason: 'the mail is no longer in the folder' };
  if (!result) return { ok: false, retryable: true, reason: 'the server refused the MOVE' };
  return { ok: false, retryable: true, reason: 'the server answered OK but the mail is still in the folder' };
}

/** Judges a delete: the mail must be gone from the folder (also when someone else removed it first). */
export function checkDeleteResult(deleted: boolean, stillPresent: boolean): DispositionCheck {
  if (!stillPresent) return { ok: true };
  return { ok: false, retryable: true, reason: deleted ? 'the server answered OK but the mail is still in the folder' : 'the server refused to delete the mail' };
}

async function isPresent(client: DispositionClient, uid: number): Promise<boolean> {
  const found = await client.search({ uid: String(uid) }, { uid: true });
  if (!Array.isArray(found)) throw new Error('the server refused the UID SEARCH used to verify the disposition');
  return found.includes(uid);
}

/**
 * Applies `disposition` to one mail (by UID, in the selected folder) and verifies it.
 * @returns `undefined` when done, or an M365MailError kind 'disposition-failed'
 */
export async function applyDisposition(
  client: DispositionClient,
  uid: number,
  disposition: Disposition,
  moveTo?: string,
): Promise<M365MailError | undefined> {
  if (disposition === 'none') return undefined;
  const range = String(uid);
  let check: DispositionCheck;
  try {
    switch (disposition) {
      case 'read':
      case 'flag': {
        const flag = FLAG_OF[disposition];
        const stored = await client.messageFlagsAdd(range, [flag], { uid: true });
        const after = await client.fetchOne(range, { uid: true, flags: true }, { uid: true });
        check = checkFlagResult(stored, after === false ? false : after.flags, flag);
        break;
      }
      case 'move': {
        if (!moveTo) {
          check = { ok: false, retryable: false, reason: 'no moveTo folder is configured' };
          break;
        }
        const result = await client.messageMove(range, moveTo, { uid: true });
        const present = result && result.uidMap?.has(uid) ? undefined : await isPresent(client, uid);
        check = checkMoveResult(result, uid, present);
        break;
      }
      case 'delete': {
        const deleted = await client.messageDelete(range, { uid: true });
        check = checkDeleteResult(deleted, await isPresent(client, uid));
        break;
      }
      default:
        return undefined;
    }
  } catch (err) {
    const mapped = toImapError(err, { action: disposition });
    return dispositionError(`Could not ${describe(disposition, moveTo)} mail UID ${uid}: ${mapped.message}`, { retryable: true, cause: err });
  }
  if (check.ok) return undefined;
  return dispositionError(`Could not ${describe(disposition, moveTo)} mail UID ${uid}: ${check.reason}`, { retryable: check.retryable });
}

function describe(disposition: Disposition, moveTo?: string): string {
  switch (disposition) {
    case 'read': return 'mark as read';
    case 'flag': return 'flag';
    case 'move': return `move to "${moveTo ?? ''}"`;
    case 'delete': return 'delete';
    default: return 'handle';
  }
}

export interface PendingDisposition {
  uid: number;
  uidValidity: number;
  attempts: number;
}

/**
 * Dispositions that failed and wait for a retry (at the start of the next check). Bounded: the
 * oldest entries fall out when full, and an entry is dropped after `maxAttempts`.
 */
export class PendingDispositions {
  private readonly items = new Map<number, PendingDisposition>();

  constructor(private readonly maxItems = 1000, readonly maxAttempts = 5) {}

  /** Remembers a failed disposition; returns the entry that fell out when the queue was full. */
  add(uid: number, uidValidity: number): PendingDisposition | undefined {
    const existing = this.items.get(uid);
    if (existing && existing.uidValidity === uidValidity) {
      existing.attempts++;
      return undefined;
    }
    this.items.set(uid, { uid, uidValidity, attempts: 1 });
    if (this.items.size <= this.maxItems) return undefined;
    const oldest = this.items.values().next().value as PendingDisposition;
    this.items.delete(oldest.uid);
    return oldest;
  }

  /** Puts back an entry stored with the checkpoint (after a restart). */
  restore(uid: number, uidValidity: number, attempts: number): void {
    if (this.items.size < this.maxItems) this.items.set(uid, { uid, uidValidity, attempts });
  }

  /** The entries of this UIDVALIDITY, as they are (for storing). */
  entries(uidValidity: number): PendingDisposition[] {
    return [...this.items.values()].filter((item) => item.uidValidity === uidValidity);
  }

  /** Entries for this UIDVALIDITY; entries of another UIDVALIDITY are meaningless and dropped. */
  due(uidValidity: number): PendingDisposition[] {
    for (const [uid, item] of this.items) if (item.uidValidity !== uidValidity) this.items.delete(uid);
    return [...this.items.values()];
  }

  /** Records one more failed attempt; returns true when the entry is given up. */
  failed(uid: number): boolean {
    const item = this.items.get(uid);
    if (!item) return true;
    item.attempts++;
    if (item.attempts < this.maxAttempts) return false;
    this.items.delete(uid);
    return true;
  }

  done(uid: number): void {
    this.items.delete(uid);
  }

  clear(): void {
    this.items.clear();
  }

  get size(): number {
    return this.items.size;
  }
}
