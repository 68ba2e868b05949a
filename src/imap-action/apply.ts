/**
 * Applies one action to a set of mails of one folder over an open imapflow connection, in one
 * command, and verifies the outcome of every mail from the server's own answer: flags are fetched
 * back, a MOVE/COPY is read from its COPYUID, a delete must leave the mail absent. imapflow answers
 * `false` (not an exception) when the server refuses a STORE/MOVE/COPY, and OK for a STORE on a
 * vanished UID, so nothing is taken on trust.
 *
 * Delete never runs a plain EXPUNGE (which would remove every other mail marked \Deleted in the
 * folder): it needs UIDPLUS for `UID EXPUNGE <just these UIDs>`, and is refused without it.
 */
import type { FetchMessageObject, ImapFlow } from 'imapflow';
import { compactUidSet } from '../imap/checkpoint-policy';
import { checkDeleteResult, checkFlagResult, checkMoveResult, type DispositionCheck } from '../imap/dispositions';
import { toImapError } from '../imap/errors';
import { M365MailError } from '../core/errors';
import { describeAction, flagChangeOf, type ActionName } from './actions';

/** The part of an imapflow client the actions use. */
export type ActionClient = Pick<ImapFlow,
  'mailbox' | 'capabilities' | 'mailboxOpen' | 'search' | 'messageFlagsAdd' | 'messageFlagsRemove'
  | 'messageMove' | 'messageCopy' | 'messageDelete' | 'fetchAll'>;

/** One command's worth: the same action on mails of one folder (and UIDVALIDITY). */
export interface ActionBatch {
  folder: string;
  action: ActionName;
  uids: number[];
  uidValidity?: string;
  keyword?: string;
  target?: string;
}

/** A mail fetched again by the `fetch` action. */
export interface FetchedMail {
  source: Buffer;
  flags: string[];
  size: number;
}

export type UidOutcome =
  | { uid: number; result: 'done'; newUid?: number; fetched?: FetchedMail }
  | { uid: number; result: 'gone' }
  | { uid: number; result: 'failed'; error: M365MailError };

const REFUSED_FIX = 'Check that the account may change this mailbox (Full Access), that the target folder exists and that the server accepts the keyword; then send the msg again.';

/** An action the server refused or did not carry out (kind `action-refused`). */
export function actionRefused(message: string, options: { retryable?: boolean; fix?: string; cause?: unknown } = {}): M365MailError {
  return new M365MailError(message, { kind: 'action-refused', fix: options.fix ?? REFUSED_FIX, retryable: options.retryable ?? false, cause: options.cause });
}

/** The folder was rebuilt since the mail was emitted: its UIDs now name other mails. */
export function uidValidityChanged(folder: string, expected: string, actual: string): M365MailError {
  return new M365MailError(`UIDVALIDITY of "${folder}" is ${actual}, not ${expected} as when the mail was read: the folder was rebuilt and the UID may now name another mail, so nothing was done`, {
    kind: 'uidvalidity-changed',
    fix: 'Nothing to repair: the server renumbered the folder. Read the mail again (the "imap in" node emits it with its new UID) and act on that msg.',
    retryable: false,
  });
}

/**
 * Opens `batch.folder` (unless already open), checks UIDVALIDITY, runs the action on the mails
 * still there and verifies it. Mails not in the folder are `gone`.
 * @throws M365MailError when the connection failed (the caller reconnects and runs the batch again)
 */
export async function applyBatch(client: ActionClient, batch: ActionBatch): Promise<UidOutcome[]> {
  const all = (error: M365MailError): UidOutcome[] => batch.uids.map((uid) => ({ uid, result: 'failed', error }));
  try {
    if (!client.mailbox || client.mailbox.path !== batch.folder) await client.mailboxOpen(batch.folder);
  } catch (err) {
    const error = toImapError(err, { action: 'open folder', folder: batch.folder });
    if (error.kind === 'folder-not-found') return all(error);
    throw error;
  }
  const actual = client.mailbox ? String(client.mailbox.uidValidity) : '';
  if (batch.uidValidity !== undefined && actual !== batch.uidValidity) return all(uidValidityChanged(batch.folder, batch.uidValidity, actual));
  if (batch.action === 'delete' && !client.capabilities.has('UIDPLUS')) {
    return all(actionRefused('The server does not support UIDPLUS, so a mail cannot be deleted without expunging every other mail marked \\Deleted in the folder; nothing was deleted', {
      fix: 'Use the action "move" to the Deleted Items folder instead (Exchange Online supports UIDPLUS, so this happens only with other servers).',
    }));
  }
  try {
    return await runAction(client, batch);
  } catch (err) {
    throw toImapError(err, { action: describeAction(batch.action, batch), folder: batch.folder });
  }
}

async function presentUids(client: ActionClient, uids: number[]): Promise<Set<number>> {
  const found = await client.search({ uid: compactUidSet(uids) }, { uid: true });
  if (!Array.isArray(found)) throw actionRefused('The server refused the UID SEARCH that checks which mails are still there', { retryable: true });
  return new Set(found);
}

async function runAction(client: ActionClient, batch: ActionBatch): Promise<UidOutcome[]> {
  const what = describeAction(batch.action, batch);
  const flagChange = flagChangeOf(batch.action, batch.keyword);
  // Flags and fetch tell a vanished mail by its absence from the FETCH that follows; move, copy
  // and delete need to know beforehand which mails are there, or "gone" would read as "done".
  const present = flagChange || batch.action === 'fetch' ? new Set(batch.uids) : await presentUids(client, batch.uids);
  const gone: UidOutcome[] = batch.uids.filter((uid) => !present.has(uid)).map((uid) => ({ uid, result: 'gone' }));
  const uids = batch.uids.filter((uid) => present.has(uid));
  if (uids.length === 0) return gone;
  const range = compactUidSet(uids);
  const judged = (uid: number, check: DispositionCheck, newUid?: number): UidOutcome => {
    if (check.ok) return { uid, result: 'done', newUid };
    if (check.reason === 'the mail is no longer in the folder') return { uid, result: 'gone' };
    return { uid, result: 'failed', error: actionRefused(`Could not ${what} mail UID ${uid} in "${batch.folder}": ${check.reason}`, { retryable: false }) };
  };

  if (flagChange) {
    const stored = flagChange.add
      ? await client.messageFlagsAdd(range, [flagChange.flag], { uid: true })
      : await client.messageFlagsRemove(range, [flagChange.flag], { uid: true });
    const after = await flagsOf(client, range);
    return [...gone, ...uids.map((uid) => judged(uid, checkFlagChange(stored, after.get(uid) ?? false, flagChange.flag, flagChange.add)))];
  }
  switch (batch.action) {
    case 'move': {
      const result = await client.messageMove(range, batch.target ?? '', { uid: true });
      const unmapped = uids.filter((uid) => !result || !result.uidMap?.has(uid));
      const still = unmapped.length > 0 ? await presentUids(client, unmapped) : new Set<number>();
      return [...gone, ...uids.map((uid) => judged(uid, checkMoveResult(result, uid, unmapped.includes(uid) ? still.has(uid) : undefined), result ? result.uidMap?.get(uid) : undefined))];
    }
    case 'copy': {
      const result = await client.messageCopy(range, batch.target ?? '', { uid: true });
      if (result) return [...gone, ...uids.map((uid): UidOutcome => ({ uid, result: 'done', newUid: result.uidMap?.get(uid) }))];
      const still = await presentUids(client, uids);
      return [...gone, ...uids.map((uid) => judged(uid, still.has(uid) ? { ok: false, retryable: false, reason: 'the server refused the COPY' } : { ok: false, retryable: false, reason: 'the mail is no longer in the folder' }))];
    }
    case 'delete': {
      // imapflow's messageDelete is STORE +FLAGS \Deleted, then UID EXPUNGE of the same set (UIDPLUS checked above).
      const deleted = await client.messageDelete(range, { uid: true });
      const still = await presentUids(client, uids);
      return [...gone, ...uids.map((uid) => judged(uid, checkDeleteResult(deleted, still.has(uid))))];
    }
    case 'fetch': {
      const messages = await client.fetchAll(range, { uid: true, flags: true, size: true, source: true }, { uid: true });
      const byUid = new Map(messages.map((m) => [m.uid, m]));
      return [...gone, ...uids.map((uid): UidOutcome => {
        const message = byUid.get(uid);
        if (!message?.source) return { uid, result: 'gone' };
        return { uid, result: 'done', fetched: { source: message.source, flags: [...(message.flags ?? [])], size: message.size ?? message.source.length } };
      })];
    }
    default:
      throw new Error(`unhandled action ${batch.action}`);
  }
}

/** Flags of the mails in `range` as the server reports them now; a vanished mail is missing. */
async function flagsOf(client: ActionClient, range: string): Promise<Map<number, Set<string>>> {
  const messages: FetchMessageObject[] = await client.fetchAll(range, { uid: true, flags: true }, { uid: true });
  return new Map(messages.map((m) => [m.uid, m.flags ?? new Set<string>()]));
}

/**
 * Judges a flag change from the flags fetched afterwards: an added flag must be there, a removed
 * one absent. `stored` is what the STORE returned (false = refused).
 */
export function checkFlagChange(stored: boolean, flagsAfter: Set<string> | false, flag: string, add: boolean): DispositionCheck {
  if (add) return checkFlagResult(stored, flagsAfter, flag);
  if (flagsAfter === false) return { ok: false, retryable: false, reason: 'the mail is no longer in the folder' };
  if (![...flagsAfter].some((f) => f.toLowerCase() === flag.toLowerCase())) return { ok: true };
  if (!stored) return { ok: false, retryable: true, reason: `the server refused to remove ${flag}` };
  return { ok: false, retryable: true, reason: `the server answered OK but ${flag} is still set` };
}
