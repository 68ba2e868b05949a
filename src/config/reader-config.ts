import type { M365MailError } from '../core/errors';
import { MAILBOX_PATTERN } from './identifiers';
import { NODE_OPTIONS, type ValueOf } from './options';
import { choice, configError, integer, text, type ParseResult, type RawProps } from './read-option';

export type { ParseResult, RawProps };

const IMAP = NODE_OPTIONS['m365-imap-in'];
const POP3 = NODE_OPTIONS['m365-pop3-in'];

/** Properties shared by m365-imap-in and m365-pop3-in (CONTRACT.md), as typed values. */
export interface ReaderConfigBase {
  mailbox: string;
  interval: number;
  attachments: ValueOf<'m365-imap-in', 'attachments'>;
  attachmentDir: string;
  maxAttachmentBytes: number;
  output: ValueOf<'m365-imap-in', 'output'>;
  /** How msg.html shows the mail's inline images: `data:` URIs (as node-red-node-email) or `cid:` links. */
  inlineImages: ValueOf<'m365-imap-in', 'inlineImages'>;
  batchSize: number;
}

export interface ImapReaderConfig extends ReaderConfigBase {
  folder: string;
  mode: ValueOf<'m365-imap-in', 'mode'>;
  criteria: ValueOf<'m365-imap-in', 'criteria'>;
  customCriteria: Record<string, unknown> | undefined;
  disposition: ValueOf<'m365-imap-in', 'disposition'>;
  moveTo: string;
}

export interface Pop3ReaderConfig extends ReaderConfigBase {
  mode: ValueOf<'m365-pop3-in', 'mode'>;
  disposition: ValueOf<'m365-pop3-in', 'disposition'>;
}

function parseBase(props: RawProps, options: typeof IMAP | typeof POP3, errors: M365MailError[]): ReaderConfigBase {
  const mailbox = text(props, 'mailbox');
  if (mailbox !== '' && !MAILBOX_PATTERN.test(mailbox)) {
    errors.push(configError(`Mailbox "${mailbox}" is not an e-mail address`, 'Enter the mailbox as name@domain, or leave it empty to open the signed-in user\'s own mailbox.'));
  }
  const attachments = choice(props, 'attachments', options.attachments, errors);
  const attachmentDir = text(props, 'attachmentDir');
  if (attachments === 'save' && attachmentDir === '') {
    errors.push(configError('Attachments are to be saved but no folder is set', 'Set "Save to folder" to an absolute path Node-RED may write to.'));
  }
  return {
    mailbox,
    interval: integer(props, 'interval', options.interval, errors),
    attachments,
    attachmentDir,
    maxAttachmentBytes: integer(props, 'maxAttachmentBytes', options.maxAttachmentBytes, errors),
    output: choice(props, 'output', options.output, errors),
    inlineImages: choice(props, 'inlineImages', options.inlineImages, errors),
    batchSize: integer(props, 'batchSize', options.batchSize, errors),
  };
}

/** Reads and checks m365-imap-in properties; every problem is reported, not just the first. */
export function parseImapReaderConfig(props: RawProps): ParseResult<ImapReaderConfig> {
  const errors: M365MailError[] = [];
  const base = parseBase(props, IMAP, errors);
  const folder = text(props, 'folder', IMAP.folder);
  const criteria = choice(props, 'criteria', IMAP.criteria, errors);
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
  const disposition = choice(props, 'disposition', IMAP.disposition, errors);
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
      mode: choice(props, 'mode', IMAP.mode, errors),
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
  const base = parseBase(props, POP3, errors);
  return {
    config: {
      ...base,
      mode: choice(props, 'mode', POP3.mode, errors),
      disposition: choice(props, 'disposition', POP3.disposition, errors),
    },
    errors,
  };
}
