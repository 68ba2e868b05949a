/**
 * Mail options → the exact bytes that go to the server, through nodemailer's own pipeline
 * (Mailer → MailMessage → MIME tree), the same one its SMTP transport uses, so a mail composed
 * here is the mail node-red-node-email would send. The Message-ID and Date are fixed here, when
 * the mail enters the outbox: a resend after a crash carries the same ID and recipients can
 * recognise it. Files and URLs are never read by nodemailer (attachments by path are resolved
 * before, see ./attachments).
 */
import { randomUUID } from 'node:crypto';
import nodemailer from 'nodemailer';
import type Mail from 'nodemailer/lib/mailer';
import type MailMessage from 'nodemailer/lib/mailer/mail-message';
import { M365MailError } from '../core/errors';

/** The SMTP envelope: MAIL FROM and RCPT TO addresses. */
export interface SmtpEnvelope {
  from: string;
  to: string[];
}

export interface CompiledMail {
  /** The RFC 5322 message, CRLF lines, as it is transmitted after DATA. */
  raw: Buffer;
  envelope: SmtpEnvelope;
  /** With angle brackets, as in the header. */
  messageId: string;
}

/** A Message-ID in the sender's domain (Exchange keeps a client's Message-ID). */
export function newMessageId(sender: string): string {
  const domain = /@([^\s@>]+)>?\s*$/.exec(sender)?.[1] ?? 'node-red.local';
  return `<${randomUUID()}@${domain}>`;
}

function senderAddress(from: Mail.Options['from'], fallback: string): string {
  const first = Array.isArray(from) ? from[0] : from;
  if (!first) return fallback;
  return typeof first === 'string' ? first : (first as { address?: string }).address ?? fallback;
}

/** A transport that builds the message instead of sending it. */
const compileTransport = {
  name: 'm365-outbox',
  version: '1',
  send(mail: MailMessage, callback: (err: Error | null, info: CompiledMail) => void): void {
    const message = mail.message as unknown as {
      build(cb: (err: Error | null, raw: Buffer) => void): void;
      getEnvelope(): { from: string | false; to: string[] };
      messageId(): string;
    };
    message.build((err, raw) => {
      if (err) return callback(err, undefined as unknown as CompiledMail);
      // The msg's own envelope, when it gave one, is what getEnvelope() returns.
      const envelope = message.getEnvelope();
      callback(null, {
        raw,
        envelope: { from: envelope.from || '', to: [...(envelope.to ?? [])] },
        messageId: message.messageId(),
      });
    });
  },
};

const mailer = nodemailer.createTransport(compileTransport as unknown as Parameters<typeof nodemailer.createTransport>[0], {
  disableFileAccess: true,
  disableUrlAccess: true,
} as Mail.Options);

/**
 * Compiles one mail; Message-ID and Date are set unless the options carry them.
 * Rejects with an M365MailError (kind 'config') when nodemailer cannot build it.
 */
export async function compileMail(options: Mail.Options, fallbackSender: string, now = new Date()): Promise<CompiledMail> {
  const withIds: Mail.Options = {
    ...options,
    messageId: options.messageId ?? newMessageId(senderAddress(options.from, fallbackSender)),
    date: options.date ?? now,
  };
  let compiled: CompiledMail;
  try {
    compiled = (await mailer.sendMail(withIds)) as unknown as CompiledMail;
  } catch (error) {
    throw new M365MailError(`The mail could not be composed: ${error instanceof Error ? error.message : String(error)}`, {
      kind: 'config', retryable: false, cause: error,
      fix: 'Check msg.attachments (nodemailer format, content as a string or Buffer), msg.headers and the addresses.',
    });
  }
  if (compiled.envelope.to.length === 0) {
    throw new M365MailError('The mail has no recipient', { kind: 'config', retryable: false, fix: 'Set "To" in the node, or msg.to.' });
  }
  return compiled;
}
