import { createRequire } from 'node:module';
import type { MimeNode } from '@zone-eu/mailsplit';

/**
 * The pieces of mailparser's own stack that the whole-mail parse reuses: mailsplit's MimeNode
 * (how a part's headers are read) and libqp's decode (quoted-printable, as mailsplit's decoder
 * does it). They are loaded from where the installed mailparser loads them, not declared as our
 * dependencies, so their rules are always the ones mailparser's streaming parse applies.
 * Undefined when they cannot be found (another mailparser layout): every mail then streams.
 */
export interface MailparserParts {
  MimeNode: typeof MimeNode;
  decodeQuotedPrintable(body: Buffer): Buffer;
}

export const mailparserParts: MailparserParts | undefined = load();

function load(): MailparserParts | undefined {
  try {
    const fromMailparser = createRequire(require.resolve('mailparser'));
    const mailsplit = fromMailparser('@zone-eu/mailsplit') as { MimeNode?: unknown };
    const libqp = createRequire(fromMailparser.resolve('@zone-eu/mailsplit'))('libqp') as { decode?: unknown };
    if (typeof mailsplit.MimeNode !== 'function' || typeof libqp.decode !== 'function') return undefined;
    return { MimeNode: mailsplit.MimeNode as typeof MimeNode, decodeQuotedPrintable: libqp.decode as (body: Buffer) => Buffer };
  } catch {
    return undefined;
  }
}
