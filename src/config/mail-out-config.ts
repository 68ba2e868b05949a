import type { M365MailError } from '../core/errors';
import { MAILBOX_PATTERN } from './identifiers';
import { NODE_OPTIONS } from './options';
import { configError, integer, text, type ParseResult, type RawProps } from './read-option';

const OPTIONS = NODE_OPTIONS['m365-mail-out'];

/** m365-mail-out properties (CONTRACT.md), as typed values. */
export interface MailOutConfig {
  /** The mailbox that logs in and sends; empty = the signed-in user (delegated). */
  mailbox: string;
  to: string;
  cc: string;
  bcc: string;
  subject: string;
  /** Most mails a minute for the mailbox; 0 = no pacing. Exchange Online allows 30. */
  pace: number;
  /** Folder that attachments given by `path` may come from; empty = none. */
  attachmentDir: string;
}


function addressList(props: RawProps, key: string, errors: M365MailError[]): string {
  const value = text(props, key);
  for (const address of value.split(',').map((a) => a.trim()).filter(Boolean)) {
    const bare = /<([^>]+)>\s*$/.exec(address)?.[1] ?? address;
    if (!MAILBOX_PATTERN.test(bare)) errors.push(configError(`"${address}" in ${key} is not an e-mail address`, `Enter ${key} as addresses separated by commas, e.g. ops@contoso.com, Jane <jane@contoso.com>.`));
  }
  return value;
}

/** Reads and checks m365-mail-out properties; every problem is reported. */
export function parseMailOutConfig(props: RawProps): ParseResult<MailOutConfig> {
  const errors: M365MailError[] = [];
  const mailbox = text(props, 'mailbox');
  if (mailbox !== '' && !MAILBOX_PATTERN.test(mailbox)) {
    errors.push(configError(`Mailbox "${mailbox}" is not an e-mail address`, 'Enter the sending mailbox as name@domain, or leave it empty to send as the signed-in user.'));
  }
  return {
    config: {
      mailbox,
      to: addressList(props, 'to', errors),
      cc: addressList(props, 'cc', errors),
      bcc: addressList(props, 'bcc', errors),
      subject: text(props, 'subject'),
      pace: integer(props, 'pace', OPTIONS.pace, errors),
      attachmentDir: text(props, 'attachmentDir'),
    },
    errors,
  };
}
