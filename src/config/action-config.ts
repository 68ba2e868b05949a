import { MAILBOX_PATTERN } from './identifiers';
import { checkActionDetail, type ActionDefaults } from '../imap-action/request';
import { NODE_OPTIONS, type ValueOf } from './options';
import { choice, configError, flag, text, type ParseResult, type RawProps } from './read-option';
import type { M365MailError } from '../core/errors';

/** m365-imap-action properties (CONTRACT.md) as typed values; `output` says what `fetch` emits. */
export interface ImapActionConfig extends ActionDefaults {
  output: ValueOf<'m365-imap-action', 'output'>;
}

const OPTIONS = NODE_OPTIONS['m365-imap-action'];

/** Reads and checks m365-imap-action properties; every problem is reported, not just the first. */
export function parseImapActionConfig(props: RawProps): ParseResult<ImapActionConfig> {
  const errors: M365MailError[] = [];
  const mailbox = text(props, 'mailbox');
  if (mailbox !== '' && !MAILBOX_PATTERN.test(mailbox)) {
    errors.push(configError(`Mailbox "${mailbox}" is not an e-mail address`, 'Enter the mailbox as name@domain, or leave it empty: the mailbox of each msg (msg.mail.mailbox) or the signed-in user\'s.'));
  }
  const folder = text(props, 'folder', OPTIONS.folder);
  const action = choice(props, 'action', OPTIONS.action, errors);
  const keyword = text(props, 'keyword');
  const target = text(props, 'target');
  const actionFromMsg = flag(props, 'actionFromMsg', OPTIONS.actionFromMsg);
  // With the action from the msg, what the node lacks may still come with each msg.
  const problem = actionFromMsg ? undefined : checkActionDetail(action, folder, keyword, target);
  if (problem) errors.push(problem);
  return {
    config: { mailbox, folder, action, keyword, target, actionFromMsg, output: choice(props, 'output', OPTIONS.output, errors) },
    errors,
  };
}
