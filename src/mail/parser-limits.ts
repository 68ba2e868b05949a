import { randomBytes } from 'node:crypto';
import type { MailParser } from 'mailparser';
import { INLINE_HTML_CHARS } from './plain-text';

/**
 * Per-instance adjustments of mailparser's MailParser, so that no mail makes it do unbounded
 * work in one synchronous stretch (which would stop every flow in Node-RED) or work nobody uses.
 * Each reaches into mailparser's internals and leaves them alone when they are not there (another
 * mailparser version), which then behaves as mailparser does.
 */

/** Characters of address headers (To, Cc, From, …) parsed per mail: some 600 to 1,500 addresses. */
export const ADDRESS_HEADER_CHARS = 32 * 1024;
/** Characters of one Content-Type or Content-Disposition header parsed (real ones stay below 1 KiB). */
export const PARAMETER_HEADER_CHARS = 16 * 1024;
const PARAMETER_HEADERS = new Set(['content-type', 'content-disposition']);
const ADDRESS_HEADERS = new Set([
  'from', 'to', 'cc', 'bcc', 'sender', 'reply-to', 'delivered-to', 'return-path', 'disposition-notification-to',
]);

/** Applies every bound; tells afterwards which HTML parts' text is still to be filled in. */
export function boundParserWork(parser: MailParser): { deferred?: DeferredHtml } {
  const pending: PendingParts = new Map();
  const textContent: TextContentState = {};
  adjustTextToHtml(parser, pending, textContent);
  capHeaders(parser);
  endDecoderOnce(parser);
  return deferLargeHtmlToText(parser, pending, textContent);
}

/** What getTextContent found out about the mail before building its text and HTML. */
interface TextContentState {
  /** The mail's HTML is built from text parts too (text outside any multipart/alternative beside HTML). */
  htmlFromText?: boolean;
}

interface HeaderLine {
  key?: string;
  line?: string;
}

/**
 * mailparser parses every address of an address header at once (40,000 addresses in a 1 MB Cc
 * header took 0.7 s), and every parameter of a Content-Type (5,000 took 0.13 s). Past
 * {@link ADDRESS_HEADER_CHARS} per mail, the rest of the addresses is left out: the header is cut
 * after the last whole address that fits; a parameter header is cut after the last whole parameter
 * within {@link PARAMETER_HEADER_CHARS}. mailsplit has read the structure (boundaries) already.
 */
function capHeaders(parser: MailParser): void {
  const internals = parser as unknown as { processHeaders?: (lines: HeaderLine[]) => unknown };
  const processHeaders = internals.processHeaders;
  if (typeof processHeaders !== 'function') return;
  let addressCharsLeft = ADDRESS_HEADER_CHARS;
  const cutAt = (line: HeaderLine & { line: string }, separator: string, room: number): HeaderLine | undefined => {
    const cut = line.line.lastIndexOf(separator, room);
    return cut > 0 ? { ...line, line: line.line.slice(0, cut) } : undefined;
  };
  /** The line as it is, cut, or undefined when nothing of it fits. */
  const capped = (line: HeaderLine): HeaderLine | undefined => {
    if (!line || typeof line.line !== 'string') return line;
    const key = String(line.key);
    const text = line as HeaderLine & { line: string };
    if (PARAMETER_HEADERS.has(key)) return text.line.length <= PARAMETER_HEADER_CHARS ? line : cutAt(text, ';', PARAMETER_HEADER_CHARS);
    if (!ADDRESS_HEADERS.has(key)) return line;
    if (text.line.length <= addressCharsLeft) {
      addressCharsLeft -= text.line.length;
      return line;
    }
    const room = addressCharsLeft;
    addressCharsLeft = 0;
    return cutAt(text, ',', room);
  };
  internals.processHeaders = function (this: unknown, lines: HeaderLine[]): unknown {
    // A plain loop: this runs for every part of every mail.
    const kept: HeaderLine[] = [];
    for (const line of Array.isArray(lines) ? lines : []) {
      const result = capped(line);
      if (result !== undefined) kept.push(result);
    }
    return processHeaders.call(this, kept);
  };
}

/** A node of the tree mailparser builds for getTextContent (what is used of it). */
export interface ParserTreeNode {
  contentType?: string | false;
  textContent?: string;
  root?: boolean;
  children?: ParserTreeNode[];
}

/** HTML parts that mailparser was not let convert, by the marker that stands for their text. */
export interface DeferredHtml {
  /** Matches every marker in the text (global). */
  pattern: RegExp;
  /** Marker → the HTML part whose text belongs there. */
  parts: Map<string, string>;
}

/** The HTML parts whose text is being filled in later, by the marker that stands in for each. */
type PendingParts = Map<string, string>;

/**
 * mailparser calls textToHtml for every text part to build `textAsHtml` (HTML-escaped text),
 * which no msg field carries, and to build the `html` of a mail that mixes text and HTML parts. It
 * is skipped for mails without any HTML part, and for mails whose HTML comes from HTML parts
 * alone (text and HTML as alternatives: the usual newsletter), where it can feed nothing else.
 * A marker of a deferred HTML part (see deferLargeHtmlToText) gives back that part's HTML.
 */
function adjustTextToHtml(parser: MailParser, pending: PendingParts, state: TextContentState): void {
  const internals = parser as unknown as { hasHtml?: unknown; textToHtml?: (text: string) => string };
  const convert = internals.textToHtml;
  if (typeof convert !== 'function') return;
  internals.textToHtml = function (this: { hasHtml?: unknown }, text: string): string {
    // Looking a text up hashes all of it: only when there are markers to find.
    const html = pending.size > 0 ? pending.get(text) : undefined;
    if (html !== undefined) return html;
    // Not knowing (another mailparser version) means converting, as mailparser would.
    return this.hasHtml === false || state.htmlFromText === false ? '' : convert.call(this, text);
  };
}

/**
 * At the end of a mail mailparser ends the last part's decoder a second time; Node then builds an
 * ERR_STREAM_ALREADY_FINISHED error with its stack trace that nobody sees (about 1 % of a drain).
 * While mailparser ends the mail, a decoder that has finished takes end() as the no-op it is;
 * everything else, its cleanup's decisions included, goes on as in mailparser.
 */
function endDecoderOnce(parser: MailParser): void {
  const internals = parser as unknown as { curnode?: { decoder?: { writableFinished?: unknown; end?: unknown } | null }; endStream?: () => unknown };
  const endStream = internals.endStream;
  if (typeof endStream !== 'function') return;
  internals.endStream = function (this: typeof internals): unknown {
    const decoder = this.curnode?.decoder;
    if (!decoder || decoder.writableFinished !== true || typeof decoder.end !== 'function') return endStream.call(this);
    const ownEnd = Object.prototype.hasOwnProperty.call(decoder, 'end') ? decoder.end : undefined;
    decoder.end = () => decoder;
    try {
      return endStream.call(this);
    } finally {
      if (ownEnd) decoder.end = ownEnd;
      else delete decoder.end;
    }
  };
}

/**
 * mailparser converts HTML parts to text (single-part HTML, HTML beside a text part) in one
 * synchronous call at the end of the mail, however large or deeply nested the HTML: a hostile
 * mail held the event loop for minutes. When the HTML parts it would convert are larger together
 * than is converted in place, each of them is presented to mailparser as a text part holding a
 * marker word: `text` gets the marker where the part's text belongs (plainTextBody fills it in
 * without blocking) and `html` gets the part's HTML back through textToHtml, so both come out as
 * mailparser would build them.
 */
function deferLargeHtmlToText(parser: MailParser, pending: PendingParts, textContent: TextContentState): { deferred?: DeferredHtml } {
  const state: { deferred?: DeferredHtml } = {};
  const internals = parser as unknown as { tree?: ParserTreeNode; hasText?: unknown; getTextContent?: () => unknown };
  const getTextContent = internals.getTextContent;
  if (typeof getTextContent !== 'function') return state;
  internals.getTextContent = function (this: typeof internals): unknown {
    textContent.htmlFromText = textOutsideAlternatives(this.tree);
    const converted = htmlPartsMailparserConverts(this.tree, this.hasText === true);
    if (converted.reduce((sum, node) => sum + (node.textContent?.length ?? 0), 0) <= INLINE_HTML_CHARS) return getTextContent.call(this);
    const prefix = `m365htmlpart${randomBytes(6).toString('hex')}n`;
    const saved = converted.map((node) => ({ node, contentType: node.contentType, textContent: node.textContent ?? '' }));
    saved.forEach(({ node, textContent }, i) => {
      pending.set(`${prefix}${i}`, textContent);
      node.contentType = 'text/plain';
      node.textContent = `${prefix}${i}`;
    });
    try {
      return getTextContent.call(this);
    } finally {
      for (const { node, contentType, textContent } of saved) {
        node.contentType = contentType;
        node.textContent = textContent;
      }
      state.deferred = { pattern: new RegExp(`${prefix}\\d+`, 'g'), parts: new Map(pending) };
      pending.clear();
    }
  };
  return state;
}

/**
 * The text/html parts that mailparser's getTextContent converts to text, in order: outside any
 * multipart/alternative when the mail has a text part, or the root part of a mail without one.
 */
function htmlPartsMailparserConverts(root: ParserTreeNode | undefined, hasText: boolean): ParserTreeNode[] {
  return partsWithText(root, (node, alternative) => node.contentType === 'text/html'
    && ((!alternative && hasText) || (node.root === true && !hasText)));
}

/**
 * Whether getTextContent turns text parts into HTML for the mail's `html`: the text parts
 * (text/plain, a delivery status) outside any multipart/alternative, as mailparser does when the
 * mail has HTML too. (A deferred HTML part, presented to it as such a text part, gets its HTML
 * back from `pending` whatever this says.)
 */
function textOutsideAlternatives(root: ParserTreeNode | undefined): boolean {
  return partsWithText(root, (node, alternative) => !alternative && (node.contentType === 'text/plain' || node.contentType === 'message/delivery-status')).length > 0;
}

/** The parts with text content for which `accept` holds, in order; `alternative`: inside a multipart/alternative. */
function partsWithText(root: ParserTreeNode | undefined, accept: (node: ParserTreeNode, alternative: boolean) => boolean): ParserTreeNode[] {
  const found: ParserTreeNode[] = [];
  const pending: Array<{ node: ParserTreeNode; alternative: boolean }> = root ? [{ node: root, alternative: false }] : [];
  for (let entry = pending.pop(); entry; entry = pending.pop()) {
    const { node, alternative } = entry;
    if (typeof node.textContent === 'string' && node.textContent !== '' && accept(node, alternative)) found.push(node);
    const inAlternative = alternative || node.contentType === 'multipart/alternative';
    if (Array.isArray(node.children)) for (let i = node.children.length - 1; i >= 0; i--) pending.push({ node: node.children[i], alternative: inAlternative });
  }
  return found;
}
