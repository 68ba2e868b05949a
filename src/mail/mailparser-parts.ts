import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * The pieces of mailparser's own stack that the whole-mail parse reuses: mailsplit's MimeNode
 * (how a part's headers are read), libqp's decode (quoted-printable, as mailsplit's decoder does
 * it) and a libmime made as mailparser makes its own. They are loaded from where the installed
 * mailparser loads them, not declared as our dependencies, so their rules are the ones
 * mailparser's streaming parse applies. The splitter's rules that mime-tree.ts mirrors were
 * checked against one mailsplit version: with any other (or another layout) this is undefined
 * and every mail streams, until a test over the corpora has checked the new one.
 */
export const CHECKED_MAILSPLIT_VERSIONS: readonly string[] = ['5.4.30'];

export interface MailparserParts {
  MimeNode: new (parent: MimeNode | false) => MimeNode;
  decodeQuotedPrintable(body: Buffer): Buffer;
  libmime: Libmime;
}

/** What is used of libmime. */
export interface Libmime {
  detectMimeType(name: string): string;
}

/** What is used of a mailsplit MimeNode: one part's headers, as mailsplit reads them. */
export interface MimeNode {
  root: boolean;
  addHeaderChunk(block: Buffer): unknown;
  parseHeaders(): void;
  headers: { getList(): unknown } | false;
  /** Lower-cased, or false when the header is empty. */
  contentType: string | false;
  /** The subtype of a multipart/* part (may be ''), else false. */
  multipart: string | false;
  /** The boundary parameter, whatever the content type (mailsplit splits by it). */
  _boundary: Buffer | false;
  charset: string | false;
  encoding: string | false;
  disposition: string | false;
  filename: string | false;
  flowed: boolean;
}

export const mailparserParts: MailparserParts | undefined = load();

function load(): MailparserParts | undefined {
  try {
    const fromMailparser = createRequire(require.resolve('mailparser'));
    const mailsplitEntry = fromMailparser.resolve('@zone-eu/mailsplit');
    const manifest = JSON.parse(readFileSync(path.join(path.dirname(mailsplitEntry), 'package.json'), 'utf8')) as { version?: unknown };
    if (!CHECKED_MAILSPLIT_VERSIONS.includes(String(manifest.version))) return undefined;
    const mailsplit = fromMailparser('@zone-eu/mailsplit') as { MimeNode?: unknown };
    const libqp = createRequire(mailsplitEntry)('libqp') as { decode?: unknown };
    const libmime = fromMailparser('libmime') as { Libmime?: new (config: object) => Libmime };
    if (typeof mailsplit.MimeNode !== 'function' || typeof libqp.decode !== 'function' || typeof libmime.Libmime !== 'function') return undefined;
    return {
      MimeNode: mailsplit.MimeNode as MailparserParts['MimeNode'],
      decodeQuotedPrintable: libqp.decode as (body: Buffer) => Buffer,
      libmime: new libmime.Libmime({}),
    };
  } catch {
    return undefined;
  }
}
