/**
 * One input msg → one mail ready for the outbox: composed as node-red-node-email would (./compose),
 * attachment files read from the allowed folder (./attachments), compiled with its Message-ID and
 * Date fixed (./compile). Everything that can be wrong with a msg is found here, before the msg is
 * taken, so it goes back to the flow at once instead of waiting in the outbox.
 */
import { resolveAttachmentFiles } from './attachments';
import { compileMail } from './compile';
import { composeMailOptions, type ComposeDefaults } from './compose';
import type { NewOutboxMail } from './outbox';

export interface PrepareOptions extends ComposeDefaults {
  /** Folder attachments given by `path` may come from; empty = none allowed. */
  attachmentDir: string;
}

export async function prepareMail(msg: Record<string, unknown>, options: PrepareOptions, now = new Date()): Promise<NewOutboxMail> {
  const mailOptions = composeMailOptions(msg, options);
  mailOptions.attachments = await resolveAttachmentFiles(mailOptions.attachments, options.attachmentDir);
  if (mailOptions.attachments === undefined) delete mailOptions.attachments;
  const compiled = await compileMail(mailOptions, options.mailbox, now);
  return { mailbox: options.mailbox, messageId: compiled.messageId, envelope: compiled.envelope, raw: compiled.raw, msg };
}
