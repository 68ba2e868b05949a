/**
 * Which mail(s) an input msg means and what to do with them: `msg.mail` as the readers emit it, or
 * `msg.uid` (a number or an array) with `msg.folder` / `msg.mailbox`; the node's properties fill
 * in what the msg does not say, and `msg.action` / `msg.target` / `msg.keyword` count only when
 * the node allows it (`actionFromMsg`). Pure: every problem is an M365MailError of kind `config`.
 */
import { M365MailError } from '../core/errors';
import { ACTION_NAMES, describeAction, isActionName, isValidKeyword, needsKeyword, needsTarget, type ActionName } from './actions';

/** The node's properties, as defaults. */
export interface ActionDefaults {
  mailbox: string;
  folder: string;
  action: ActionName;
  keyword: string;
  target: string;
  actionFromMsg: boolean;
}

/** What to do, to which mails, where. */
export interface ActionRequest {
  /** '' = the signed-in user's own mailbox (the node fills it in). */
  mailbox: string;
  folder: string;
  uids: number[];
  /** UIDVALIDITY the UIDs belong to, when the msg said (a reader's msg.mail always does). */
  uidValidity?: string;
  action: ActionName;
  keyword?: string;
  target?: string;
}

function configError(message: string, fix: string): M365MailError {
  return new M365MailError(message, { kind: 'config', fix });
}

function text(value: unknown): string {
  return typeof value === 'string' ? value.trim() : typeof value === 'number' ? String(value) : '';
}

function toUid(value: unknown): number | undefined {
  const number = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  return typeof number === 'number' && Number.isSafeInteger(number) && number > 0 && number <= 0xffffffff ? number : undefined;
}

function uidsOf(value: unknown): number[] | undefined {
  const list = Array.isArray(value) ? value : [value];
  const uids = list.map(toUid);
  if (uids.length === 0 || uids.some((uid) => uid === undefined)) return undefined;
  return [...new Set(uids as number[])];
}

/**
 * Reads the request out of an input msg.
 * @returns the request, or the config error to report with the msg
 */
export function resolveActionRequest(msg: Record<string, unknown>, defaults: ActionDefaults): ActionRequest | M365MailError {
  const mail = typeof msg.mail === 'object' && msg.mail !== null ? (msg.mail as Record<string, unknown>) : undefined;
  const fromMail = mail !== undefined && mail.uid !== undefined;
  if (fromMail && mail.protocol === 'pop3') {
    return configError('This msg came from a POP3 mailbox; IMAP actions need an IMAP mail', 'Read the mailbox with an "imap in" node to act on its mails.');
  }
  const rawUids = fromMail ? mail.uid : msg.uid;
  if (rawUids === undefined) {
    return configError('The msg names no mail: neither msg.mail.uid nor msg.uid is set',
      'Send the msg an "imap in" node emitted (with its msg.mail), or set msg.uid to a UID (or a list of UIDs) and msg.folder.');
  }
  const uids = uidsOf(rawUids);
  if (!uids) return configError(`"${String(rawUids)}" is not a UID`, 'A UID is a whole number from 1 to 4294967295; msg.uid may also be a list of them.');

  const mailbox = text(fromMail ? mail.mailbox : undefined) || text(msg.mailbox) || defaults.mailbox;
  const folder = text(fromMail ? mail.folder : undefined) || text(msg.folder) || defaults.folder || 'INBOX';
  const uidValidity = fromMail && mail.uidValidity !== undefined && mail.uidValidity !== null ? text(mail.uidValidity) : undefined;

  let action = defaults.action;
  let keyword = defaults.keyword;
  let target = defaults.target;
  if (defaults.actionFromMsg) {
    if (msg.action !== undefined && msg.action !== '') {
      if (!isActionName(msg.action)) return configError(`Unknown msg.action "${String(msg.action)}"`, `Set msg.action to one of: ${ACTION_NAMES.join(', ')}.`);
      action = msg.action;
    }
    if (text(msg.keyword)) keyword = text(msg.keyword);
    if (text(msg.target)) target = text(msg.target);
  }
  const problem = checkActionDetail(action, folder, keyword, target);
  if (problem) return problem;
  return {
    mailbox, folder, uids, uidValidity: uidValidity || undefined, action,
    keyword: needsKeyword(action) ? keyword : undefined,
    target: needsTarget(action) ? target : undefined,
  };
}

/** What a keyword or move/copy action is missing; shared by the node's start-up check. */
export function checkActionDetail(action: ActionName, folder: string, keyword: string, target: string): M365MailError | undefined {
  if (needsKeyword(action)) {
    if (!keyword) return configError(`"${action}" needs a keyword`, 'Set "Keyword" (or msg.keyword, when the action may come from the msg), e.g. Processed.');
    if (!isValidKeyword(keyword)) {
      return configError(`"${keyword}" is not a valid IMAP keyword`, 'Use one word without spaces, brackets, quotes, %, * or a leading backslash, e.g. $Processed.');
    }
  }
  if (needsTarget(action)) {
    if (!target) return configError(`"${action}" needs a target folder`, 'Set "Target folder" (or msg.target, when the action may come from the msg), e.g. Done.');
    if (target === folder) return configError(`Cannot ${describeAction(action, { target })}: it is the mail's own folder`, 'Pick another folder as the target.');
  }
  return undefined;
}
