import { M365MailError } from '../core/errors';
import { DEFAULT_INLINE_IMAGES, INLINE_IMAGES_MODES, type InlineImagesMode } from '../mail/inline-images';
import { MAILBOX_PATTERN } from './identifiers';

/** Properties shared by m365-imap-in and m365-pop3-in (CONTRACT.md), as typed values. */
export interface ReaderConfigBase {
  mailbox: string;
  interval: number;
  attachments: 'include' | 'omit' | 'save';
  attachmentDir: string;
  maxAttachmentBytes: number;
  output: 'parsed' | 'raw';
  /** How msg.html shows the mail's inline images: `data:` URIs (as node-red-node-email) or `cid:` links. */
  inlineImages: InlineImagesMode;
  batchSize: number;
}

export interface ImapReaderConfig extends ReaderConfigBase {
  folder: string;
  mode: 'idle' | 'poll' | 'trigger';
  criteria: 'new' | 'unseen' | 'all' | 'custom';
  customCriteria: Record<string, unknown> | undefined;
  disposition: 'none' | 'read' | 'flag' | 'move' | 'delete';
  moveTo: string;
}

export interface Pop3ReaderConfig extends ReaderConfigBase {
  mode: 'poll' | 'trigger';
  disposition: 'keep' | 'delete';
}

/** Raw node properties as they come from the flow file: strings, numbers or missing. */
export type RawProps = Record<string, unknown>;

export interface ParseResult<T> {
  config: T;
  errors: M365MailError[];
}

const DEFAULT_MAX_ATTACHMENT_BYTES = 26214400;

export function configError(message: string, fix: string): M365MailError {
  return new M365MailError(message, { kind: 'config', fix });
}

export function text(props: RawProps, key: string, fallback = ''): string {
  const value = props[key];
  if (value === undefined || value === null) return fallback;
  return String(value).trim();
}

export function choice<T extends string>(props: RawProps, key: string, allowed: readonly T[], fallback: T, errors: M365MailError[]): T {
  const value = text(props, key, fallback) || fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  errors.push(configError(`Unknown ${key} "${value}"`, `Choose one of: ${allowed.join(', ')}.`));
  return fallback;
}

export function integer(props: RawProps, key: string, fallback: number, min: number, max: number, errors: M365MailError[]): number {
  const raw = text(props, key);
  if (raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    errors.push(configError(`${key} must be a whole number from ${min} to ${max} (got "${raw}")`, `Set ${key} to a value from ${min} to ${max}.`));
    return fallback;
  }
  return value;
}

function parseBase(props: RawProps, defaultInterval: number, errors: M365MailError[]): ReaderConfigBase {
  const mailbox = text(props, 'mailbox');
  if (mailbox !== '' && !MAILBOX_PATTERN.test(mailbox)) {
    errors.push(configError(`Mailbox "${mailbox}" is not an e-mail address`, 'Enter the mailbox as name@domain, or leave it empty to open the signed-in user\'s own mailbox.'));
  }
  const attachments = choice(props, 'attachments', ['include', 'omit', 'save'] as const, 'include', errors);
  const attachmentDir = text(props, 'attachmentDir');
  if (attachments === 'save' && attachmentDir === '') {
    errors.push(configError('Attachments are to be saved but no folder is set', 'Set "Save to folder" to an absolute path Node-RED may write to.'));
  }
  return {
    mailbox,
    interval: integer(props, 'interval', defaultInterval, 5, 86400, errors),
    attachments,
    attachmentDir,
    maxAttachmentBytes: integer(props, 'maxAttachmentBytes', DEFAULT_MAX_ATTACHMENT_BYTES, 0, Number.MAX_SAFE_INTEGER, errors),
    output: choice(props, 'output', ['parsed', 'raw'] as const, 'parsed', errors),
    inlineImages: choice(props, 'inlineImages', INLINE_IMAGES_MODES, DEFAULT_INLINE_IMAGES, errors),
    batchSize: integer(props, 'batchSize', 100, 1, 10000, errors),
  };
}

/** Reads and checks m365-imap-in properties; every problem is reported, not just the first. */
export function parseImapReaderConfig(props: RawProps): ParseResult<ImapReaderConfig> {
  const errors: M365MailError[] = [];
  const base = parseBase(props, 60, errors);
  const folder = text(props, 'folder', 'INBOX') || 'INBOX';
  const criteria = choice(props, 'criteria', ['new', 'unseen', 'all', 'custom'] as const, 'new', errors);
  let customCriteria: Record<string, unknown> | undefined;
  if (criteria === 'custom') {
    const raw = props.customCriteria;
    try {
      const parsed: unknown = typeof raw === 'string' ? JSON.parse(raw || 'null') : raw;
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      customCriteria = parsed as Record<string, unknown>;
    } catch {
      errors.push(configError('Custom criteria must be a JSON object', 'Enter an imapflow search object, for example {"from": "alerts@example.com", "seen": false}.'));
    }
  }
  const disposition = choice(props, 'disposition', ['none', 'read', 'flag', 'move', 'delete'] as const, 'none', errors);
  const moveTo = text(props, 'moveTo');
  if (disposition === 'move' && moveTo === '') {
    errors.push(configError('Disposition "move" needs a target folder', 'Set "Move to" to an existing folder, e.g. Processed.'));
  }
  if (disposition === 'move' && moveTo === folder) {
    errors.push(configError(`"Move to" is the watched folder itself (${folder})`, 'Pick another folder as the move target.'));
  }
  return {
    config: {
      ...base,
      folder,
      mode: choice(props, 'mode', ['idle', 'poll', 'trigger'] as const, 'idle', errors),
      criteria,
      customCriteria,
      disposition,
      moveTo,
    },
    errors,
  };
}

/** Reads and checks m365-pop3-in properties. */
export function parsePop3ReaderConfig(props: RawProps): ParseResult<Pop3ReaderConfig> {
  const errors: M365MailError[] = [];
  const base = parseBase(props, 300, errors);
  return {
    config: {
      ...base,
      mode: choice(props, 'mode', ['poll', 'trigger'] as const, 'poll', errors),
      disposition: choice(props, 'disposition', ['keep', 'delete'] as const, 'keep', errors),
    },
    errors,
  };
}
