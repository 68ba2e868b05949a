import { mailparserParts, type MailparserParts, type MimeNode } from './mailparser-parts';

/**
 * The MIME structure of a whole mail held in one Buffer, found with indexOf instead of mailsplit's
 * byte-by-byte stream. Each part's headers are read by mailsplit's own MimeNode, so content type,
 * charset, transfer encoding, disposition, file name and boundary mean exactly what they mean to
 * mailparser. Only well-formed structure is taken: where mailsplit has special rules (a missing
 * closing delimiter, a boundary on a part that is not multipart, a part without a header block,
 * an embedded message, format=flowed, a charset that needs converting, nested boundaries that
 * could match each other) this returns undefined, and the mail goes through mailparser's
 * streaming parse instead.
 */

/** One part: mailsplit's view of its headers, its raw (still transfer-encoded) body, its children. */
export interface MimePart {
  node: MimeNode;
  /** Raw body of a leaf, as mailsplit hands it to the part's decoder. */
  body?: Buffer;
  children: MimePart[];
}

/** Header blocks larger than this go the streaming way (mailsplit's own limit is 1 MiB). */
const MAX_HEADER_BLOCK_BYTES = 64 * 1024;
/** Parts per mail taken here (mailsplit allows 1,000). */
const MAX_PARTS = 100;
/** Multipart nesting taken here. */
const MAX_DEPTH = 8;
/** Charsets whose text mailparser takes as UTF-8 bytes without converting (its own list). */
const UTF8_AS_IS = new Set(['ascii', 'usascii', 'utf8']);
/** A delimiter line may end in spaces and tabs before its line ending (as in mailsplit). */
const DELIMITER_TRAILING_WSP = 998;

const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;

/** The parts of `raw`, or undefined when the mail needs mailparser's streaming rules. */
export function splitWholeMail(raw: Buffer): MimePart | undefined {
  if (!mailparserParts) return undefined;
  return readPart(raw, 0, raw.length, undefined, [], { MimeNode: mailparserParts.MimeNode, partsLeft: MAX_PARTS }, 0);
}

/** What every part of one mail is read with. */
interface Walk {
  MimeNode: MailparserParts['MimeNode'];
  partsLeft: number;
}

function readPart(raw: Buffer, start: number, end: number, parent: MimeNode | undefined, outer: Buffer[], walk: Walk, depth: number): MimePart | undefined {
  if (--walk.partsLeft < 0) return undefined;
  const bodyStart = headerBlockEnd(raw, start, end);
  if (bodyStart === undefined) return undefined;
  const node = new walk.MimeNode(parent ?? false);
  node.addHeaderChunk(raw.subarray(start, bodyStart));
  node.parseHeaders();
  // mailsplit splits any part with a boundary parameter, a text/html one included.
  if (node.contentType === 'message/rfc822' || node.flowed || (!node.multipart && node._boundary)) return undefined;
  if (node.multipart) {
    const boundary = node._boundary;
    if (!boundary || depth >= MAX_DEPTH || outer.some((other) => overlaps(other, boundary))) return undefined;
    const children = readChildren(raw, bodyStart, end, node, [...outer, boundary], walk, depth);
    return children && { node, children };
  }
  if (!UTF8_AS_IS.has(String(node.charset || 'utf-8').toLowerCase().replace(/[^a-z0-9]+/g, ''))) return undefined;
  const body = parent ? withoutLastLineEnd(raw, bodyStart, end) : raw.subarray(bodyStart, end);
  return body && { node, body, children: [] };
}

/**
 * The children between the delimiter lines of one multipart, up to its closing delimiter. The
 * preamble and the epilogue are not content (mailparser drops them too).
 */
function readChildren(raw: Buffer, start: number, end: number, node: MimeNode, boundaries: Buffer[], walk: Walk, depth: number): MimePart[] | undefined {
  const boundary = boundaries[boundaries.length - 1];
  const delimiter = Buffer.concat([Buffer.from('--'), boundary]);
  const children: MimePart[] = [];
  let childStart = -1;
  for (let at = raw.indexOf(delimiter, start); at >= 0 && at < end; at = raw.indexOf(delimiter, at + 1)) {
    if (at > start && raw[at - 1] !== LF) {
      // mailsplit also takes a delimiter behind a lone CR at the start of a line
      if (raw[at - 1] === CR) return undefined;
      continue;
    }
    const kind = delimiterLine(raw, at, end, boundary.length);
    if (kind === 'odd') return undefined;
    if (kind === undefined) continue;
    if (childStart >= 0) {
      const child = readPart(raw, childStart, at, node, boundaries, walk, depth + 1);
      if (!child) return undefined;
      children.push(child);
    } else if (kind.closing) {
      // A closing delimiter in the preamble: mailsplit stays in the multipart.
      return undefined;
    }
    if (kind.closing) return children;
    childStart = kind.next;
  }
  // No closing delimiter: mailsplit lets the last part run to whatever ends it.
  return undefined;
}

/**
 * Whether the line at `at` is `--boundary` or `--boundary--`, then spaces and tabs, then its line
 * ending: undefined when not, 'odd' for the line endings on which mailsplit has rules of its own
 * (a run of CRs, a CR that ends the input).
 */
function delimiterLine(raw: Buffer, at: number, end: number, boundaryLength: number): { closing: boolean; next: number } | 'odd' | undefined {
  let i = at + 2 + boundaryLength;
  const closing = i + 1 < end && raw[i] === DASH && raw[i + 1] === DASH;
  if (closing) i += 2;
  const wspStart = i;
  while (i < end && (raw[i] === 0x20 || raw[i] === 0x09)) i++;
  if (i - wspStart > DELIMITER_TRAILING_WSP) return undefined;
  if (i >= end) return closing ? { closing, next: end } : undefined;
  if (raw[i] === CR) {
    i++;
    if (i >= end || raw[i] === CR) return 'odd';
  }
  if (raw[i] !== LF) return undefined;
  return { closing, next: i + 1 };
}

/**
 * Where the header block that starts at `start` ends (after its empty line), or undefined when the
 * part has no empty line before `end` or the block is too large.
 */
function headerBlockEnd(raw: Buffer, start: number, end: number): number | undefined {
  const limit = Math.min(end, start + MAX_HEADER_BLOCK_BYTES);
  for (let line = start; line < limit;) {
    const lineEnd = raw.indexOf(LF, line);
    if (lineEnd < 0 || lineEnd >= limit) return undefined;
    if (lineEnd === line || (lineEnd === line + 1 && raw[line] === CR)) return lineEnd + 1;
    line = lineEnd + 1;
  }
  return undefined;
}

/**
 * A child's body: the line ending before the next delimiter belongs to the delimiter. A body
 * that is nothing but one line ending is one of mailsplit's special cases.
 */
function withoutLastLineEnd(raw: Buffer, start: number, end: number): Buffer | undefined {
  let last = end;
  if (last > start && raw[last - 1] === LF) {
    last--;
    if (last > start && raw[last - 1] === CR) last--;
  }
  if (last === start && end > start) return undefined;
  return raw.subarray(start, last);
}

/** Two boundaries of which one could be read as a delimiter of the other (equal, or one a prefix). */
function overlaps(a: Buffer, b: Buffer): boolean {
  const shorter = a.length <= b.length ? a : b;
  const longer = shorter === a ? b : a;
  return longer.subarray(0, shorter.length).equals(shorter);
}
