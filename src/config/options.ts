/**
 * The one table of node options: for every node type, each property's values, default and limits
 * (CONTRACT.md). The runtime parsers (reader-config.ts, action-config.ts), the editors' `defaults`
 * (src/editor/option-defaults.ts) and the engine option types (src/engine/options.ts) all read it,
 * so a value or default is written here and nowhere else. Imports nothing: the editor bundle
 * (browser IIFE) includes it as it is.
 */

/** One of a fixed list of words; the first use of the list in a form is the order shown. */
export interface ChoiceOption<T extends string = string> {
  readonly kind: 'choice';
  readonly values: readonly T[];
  readonly default: T;
}

/** A whole number from `min` to `max` (flow files keep it as a string or a number). */
export interface IntegerOption {
  readonly kind: 'integer';
  readonly default: number;
  readonly min: number;
  readonly max: number;
}

/** Free text (trimmed); the parsers check the ones that have a shape, e.g. a mailbox address. */
export interface TextOption {
  readonly kind: 'text';
  readonly default: string;
}

/** true / false (the editor's checkbox; flow files may hold "true"). */
export interface FlagOption {
  readonly kind: 'flag';
  readonly default: boolean;
}

export type OptionSpec = ChoiceOption | IntegerOption | TextOption | FlagOption;

const choice = <const T extends string>(values: readonly T[], defaultValue: T): ChoiceOption<T> => ({ kind: 'choice', values, default: defaultValue });
const integer = (defaultValue: number, min: number, max: number): IntegerOption => ({ kind: 'integer', default: defaultValue, min, max });
const text = (defaultValue = ''): TextOption => ({ kind: 'text', default: defaultValue });
const flag = (defaultValue: boolean): FlagOption => ({ kind: 'flag', default: defaultValue });

/** Seconds between polls / safety re-checks: at least 5 s, at most a day. */
const INTERVAL_MIN = 5;
const INTERVAL_MAX = 86400;

/** What every reader shares: attachments, output form and batch size. */
const READER_COMMON = {
  mailbox: text(),
  attachments: choice(['include', 'omit', 'save'], 'include'),
  attachmentDir: text(),
  /** 25 MiB: Exchange Online's default message size limit. */
  maxAttachmentBytes: integer(26214400, 0, Number.MAX_SAFE_INTEGER),
  output: choice(['parsed', 'raw'], 'parsed'),
  /** How msg.html shows inline images: `data:` URIs (as node-red-node-email) or the mail's `cid:` links. */
  inlineImages: choice(['data-uri', 'cid'], 'data-uri'),
  batchSize: integer(100, 1, 10000),
} as const;

export const NODE_OPTIONS = {
  'm365-imap-in': {
    ...READER_COMMON,
    folder: text('INBOX'),
    mode: choice(['idle', 'poll', 'trigger'], 'idle'),
    interval: integer(60, INTERVAL_MIN, INTERVAL_MAX),
    criteria: choice(['new', 'unseen', 'all', 'custom'], 'new'),
    customCriteria: text(),
    disposition: choice(['none', 'read', 'flag', 'move', 'delete'], 'none'),
    moveTo: text(),
  },
  'm365-pop3-in': {
    ...READER_COMMON,
    mode: choice(['poll', 'trigger'], 'poll'),
    interval: integer(300, INTERVAL_MIN, INTERVAL_MAX),
    disposition: choice(['keep', 'delete'], 'keep'),
  },
  'm365-mail-out': {
    mailbox: text(),
    to: text(),
    cc: text(),
    bcc: text(),
    subject: text(),
    /** Mails per minute per mailbox: Exchange Online accepts 30; 0 = no pacing. */
    pace: integer(30, 0, 10000),
    /** Folder that attachments given by `path` may come from; empty = none. */
    attachmentDir: text(),
  },
  'm365-imap-action': {
    mailbox: text(),
    folder: text('INBOX'),
    action: choice(['read', 'unread', 'flag', 'unflag', 'add-keyword', 'remove-keyword', 'move', 'copy', 'delete', 'fetch'], 'read'),
    keyword: text(),
    target: text(),
    actionFromMsg: flag(false),
    /** What `fetch` emits. */
    output: READER_COMMON.output,
  },
} as const;

export type OptionNodeType = keyof typeof NODE_OPTIONS;

/** The values of a choice option, as a union type: `ValueOf<'m365-imap-in', 'mode'>` = 'idle' | 'poll' | 'trigger'. */
export type ValueOf<N extends OptionNodeType, P extends keyof (typeof NODE_OPTIONS)[N]> =
  (typeof NODE_OPTIONS)[N][P] extends ChoiceOption<infer T> ? T : never;

