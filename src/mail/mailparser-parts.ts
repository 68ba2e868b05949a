import { createRequire } from 'node:module';

/**
 * The pieces of mailparser's own stack that the whole-mail parse reuses: mailsplit's MimeNode
 * (how a part's headers are read) and libqp's decode (quoted-printable, as mailsplit's decoder
 * does it). They are loaded from where the installed mailparser loads them, not declared as our
 * dependencies, so their rules are always the ones mailparser's streaming parse applies.
 * Undefined when they cannot be found (another mailparser layout): every mail then streams.
 */
export interface MailparserParts {
  MimeNode: new (parent: MimeNode | false) => MimeNode;
  decodeQuotedPrintable(body: Buffer): Buffer;
}

/** What is used of a mailsplit MimeNode: one part's headers, as mailsplit reads them. */
export interface MimeNode {
  root: boolean;
  addHeaderChunk(block: Buffer): unknown;
  parseHeaders(): void;
  headers: { getList(): unknown } | false;
  /** Lower-cased, or false when the header is empty. */
  contentType: string | false;
  /** The subtype of a multipart/* part, else false. */
  multipart: string | false;
  /** The boundary parameter, whatever the content type (mailsplit splits by it). */
  _boundary: Buffer | false;
  charset: string | false;
  encoding: string | false;
  disposition: string | false;
  filename: string | false;
  flowed: boolean;
  libmime: { detectMimeType(name: string): string };
}

export const mailparserParts: MailparserParts | undefined = load();

function load(): MailparserParts | undefined {
  try {
    const fromMailparser = createRequire(require.resolve('mailparser'));
    const mailsplit = fromMailparser('@zone-eu/mailsplit') as { MimeNode?: unknown };
    const libqp = createRequire(fromMailparser.resolve('@zone-eu/mailsplit'))('libqp') as { decode?: unknown };
    if (typeof mailsplit.MimeNode !== 'function' || typeof libqp.decode !== 'function') return undefined;
    return { MimeNode: mailsplit.MimeNode as MailparserParts['MimeNode'], decodeQuotedPrintable: libqp.decode as (body: Buffer) => Buffer };
  } catch {
    return undefined;
  }
}
