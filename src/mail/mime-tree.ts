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

/**
 * Header cost, counted as mailsplit counts it against its limit (1 MiB per part): each line its
 * bytes, at least HEADER_LINE_MIN_COST. Past these the mail streams: mailparser reads each header
 * line with several regular expressions, and the whole parse does it in one synchronous stretch.
 */
const MAX_HEADER_COST_PER_PART = 64 * 1024;
const MAX_HEADER_COST_PER_MAIL = 256 * 1024;
const HEADER_LINE_MIN_COST = 64;
/** Parts per mail taken here (mailsplit allows 1,000). */
const MAX_PARTS = 100;
/** Multiparts nested in multiparts taken here. */
const MAX_DEPTH = 8;
/** Charsets whose text mailparser takes as UTF-8 bytes without converting (its own list). */
const UTF8_AS_IS = new Set(['ascii', 'usascii', 'utf8']);
/** Blanks taken before a delimiter line's ending; mailsplit takes a few more, depending on the line. */
const DELIMITER_TRAILING_WSP = 998;

const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;

/** The parts of `raw`, or undefined when the mail needs mailparser's streaming rules. */
export function splitWholeMail(raw: Buffer): MimePart | undefined {
  if (!mailparserParts) return undefined;
  return readPart(raw, 0, raw.length, undefined, [], { MimeNode: mailparserParts.MimeNode, partsLeft: MAX_PARTS, headerCostLeft: MAX_HEADER_COST_PER_MAIL });
}

/** What every part of one mail is read with. */
interface Walk {
  MimeNode: MailparserParts['MimeNode'];
  partsLeft: number;
  headerCostLeft: number;
}

/** One part between `start` and `end`; `outer`: the boundaries of the multiparts it lies in, outermost first. */
function readPart(raw: Buffer, start: number, end: number, parent: MimeNode | undefined, outer: Buffer[], walk: Walk): MimePart | undefined {
  if (--walk.partsLeft < 0) return undefined;
  const bodyStart = headerBlockEnd(raw, start, end, walk);
  if (bodyStart === undefined) return undefined;
  const node = new walk.MimeNode(parent ?? false);
  node.addHeaderChunk(raw.subarray(start, bodyStart));
  node.parseHeaders();
  if (node.contentType === 'message/rfc822' || node.flowed) return undefined;
  // mailsplit splits any part with a boundary parameter, a text/html one included; mailparser
  // takes `multipart/` without a subtype for a multipart, mailsplit for a leaf.
  if (!node.multipart && (node._boundary || /^multipart\//i.test(String(node.contentType)))) return undefined;
  if (node.multipart) {
    const boundary = node._boundary;
    if (!boundary || outer.length >= MAX_DEPTH || outer.some((other) => overlaps(other, boundary))) return undefined;
    const children = readChildren(raw, bodyStart, end, node, [...outer, boundary], walk);
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
function readChildren(raw: Buffer, start: number, end: number, node: MimeNode, boundaries: Buffer[], walk: Walk): MimePart[] | undefined {
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
      const child = readPart(raw, childStart, at, node, boundaries, walk);
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
 * ending: undefined when not, 'odd' where mailsplit has rules of its own (a run of CRs, a CR that
 * ends the input, a long run of blanks: mailsplit bounds the line's length, not the blanks').
 */
function delimiterLine(raw: Buffer, at: number, end: number, boundaryLength: number): { closing: boolean; next: number } | 'odd' | undefined {
  let i = at + 2 + boundaryLength;
  const closing = i + 1 < end && raw[i] === DASH && raw[i + 1] === DASH;
  if (closing) i += 2;
  const wspStart = i;
  while (i < end && (raw[i] === 0x20 || raw[i] === 0x09)) i++;
  if (i - wspStart > DELIMITER_TRAILING_WSP) return 'odd';
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
 * part has no empty line before `end` or its headers cost too much.
 */
function headerBlockEnd(raw: Buffer, start: number, end: number, walk: Walk): number | undefined {
  let cost = 0;
  for (let line = start; line < end;) {
    const lineEnd = raw.indexOf(LF, line);
    if (lineEnd < 0 || lineEnd >= end) return undefined;
    if (lineEnd === line || (lineEnd === line + 1 && raw[line] === CR)) {
      walk.headerCostLeft -= cost;
      return lineEnd + 1;
    }
    cost += Math.max(lineEnd + 1 - line, HEADER_LINE_MIN_COST);
    if (cost > MAX_HEADER_COST_PER_PART || cost > walk.headerCostLeft) return undefined;
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
