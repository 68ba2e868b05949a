/**
 * One mail of the outbox: its fields, the one line it is on disk (see ./outbox-files for the
 * segments that hold the lines), and the error a failed store or read becomes.
 */
import { M365MailError } from '../core/errors';
import type { SmtpEnvelope } from './compile';
import { decodeMsg, encodeMsg } from './msg-codec';

/** One mail in the outbox. */
export interface OutboxMail {
  seq: number;
  /** ms since epoch when the node took the msg. */
  enqueuedAt: number;
  /** The mailbox that logs in and sends it. */
  mailbox: string;
  messageId: string;
  envelope: SmtpEnvelope;
  raw: Buffer;
  /** The input msg it came from. */
  msg: Record<string, unknown>;
}

export type NewOutboxMail = Omit<OutboxMail, 'seq' | 'enqueuedAt'>;

const FORMAT = 1;

/** A failed read or write of the outbox folder, as the node reports it. */
export function storageError(action: string, error: unknown): M365MailError {
  const code = (error as NodeJS.ErrnoException).code ?? 'error';
  return new M365MailError(`The outbox could not ${action} (${code}).`, {
    kind: 'storage', retryable: false, cause: error,
    fix: 'Check that the Node-RED user directory can be written and has free space.',
  });
}

/** The mail's line: one line (JSON escapes every newline), starting with format and number (see linesBySeq). */
export function mailLine(mail: OutboxMail): string {
  return `{"v":${FORMAT},"seq":${mail.seq},"enqueuedAt":${mail.enqueuedAt},"mailbox":${JSON.stringify(mail.mailbox)},`
    + `"messageId":${JSON.stringify(mail.messageId)},"envelope":${JSON.stringify(mail.envelope)},`
    + `"raw":${JSON.stringify(mail.raw.toString('latin1'))},"msg":${encodeMsg(mail.msg)}}`;
}

/** The mail `seq` back from its line; a damaged line or another format is a storage error. */
export function parseMailLine(seq: number, text: string): OutboxMail {
  let data: Record<string, unknown>;
  try {
    data = decodeMsg(text);
  } catch (error) {
    throw storageError('read a damaged mail', error);
  }
  if (data.v !== FORMAT) throw storageError(`read a mail of format ${String(data.v)}`, new Error('format'));
  return {
    seq,
    enqueuedAt: Number(data.enqueuedAt),
    mailbox: String(data.mailbox),
    messageId: String(data.messageId),
    envelope: data.envelope as SmtpEnvelope,
    raw: Buffer.from(String(data.raw), 'latin1'),
    msg: (data.msg ?? {}) as Record<string, unknown>,
  };
}
