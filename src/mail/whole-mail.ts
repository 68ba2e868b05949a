import { createHash } from 'node:crypto';
import { MailParser, type Headers, type MessageText } from 'mailparser';
import { mailparserParts, type Libmime, type MailparserParts } from './mailparser-parts';
import { splitWholeMail, type MimePart } from './mime-tree';
import { boundParserWork, type DeferredHtml, type ParserTreeNode } from './parser-limits';

/**
 * Parses a mail held whole in one Buffer (every mail up to the streaming threshold) without
 * mailparser's streams: the structure comes from mime-tree, and mailparser's own methods read
 * the headers (`processHeaders`) and build the text and HTML (`getTextContent`), bounded as in
 * the streaming parse (parser-limits). The streams cost about four fifths of the time of a
 * typical mail; the result is the same, which a test checks over the bench corpus and the MIME
 * corpus. A mail this does not take returns undefined and goes the streaming way.
 */

/** The options of every MailParser here: sha256 like node-red-node-email; no link detection (feeds no msg field). */
export const MAILPARSER_OPTIONS = Object.freeze({ checksumAlgo: 'sha256', skipTextLinks: true });

/** One attachment as mailparser describes it, with its decoded content. */
export interface WholeMailAttachment {
  /** As mailparser gives it: false for an empty Content-Type (the msg then has false too, either way). */
  contentType: string;
  filename?: string;
  cid?: string;
  checksum: string;
  transferEncoding?: string;
  content: Buffer;
}

export interface WholeMailContent {
  headers: Headers;
  text?: string;
  html?: string;
  attachments: WholeMailAttachment[];
  deferredHtml?: DeferredHtml;
}

/** mailparser's text types (keepDeliveryStatus off): inline parts of these types are text, not attachments. */
const TEXT_TYPES = ['text/plain', 'text/html', 'message/delivery-status'];

/** A node of the tree mailparser's getTextContent walks. */
interface TextNode extends ParserTreeNode {
  contentType: string | false;
  headers: Headers;
  children: TextNode[];
}

/** The mailparser methods used, read from its prototype and called on a parser-shaped object. */
interface ParserShell {
  options: typeof MAILPARSER_OPTIONS;
  libmime: Libmime;
  textTypes: string[];
  tree: TextNode | false;
  hasHtml: boolean;
  hasText: boolean;
  processHeaders(lines: unknown): Headers;
  getTextContent(): MessageText;
}

const PROTOTYPE = MailParser.prototype as unknown as Partial<ParserShell>;
const PARTS = typeof PROTOTYPE.processHeaders === 'function' && typeof PROTOTYPE.getTextContent === 'function' ? mailparserParts : undefined;

/** The parsed mail, or undefined when it is to be parsed by mailparser's streams. */
export function readWholeMail(raw: Buffer): WholeMailContent | undefined {
  if (!PARTS) return undefined;
  try {
    const tree = splitWholeMail(raw);
    if (!tree) return undefined;
    const shell = newShell(PARTS);
    const limits = boundParserWork(shell as unknown as MailParser);
    const attachments: WholeMailAttachment[] = [];
    const root = readNode(tree, shell, attachments, PARTS);
    if (!root) return undefined;
    shell.tree = root;
    const text = shell.getTextContent();
    return { headers: root.headers, text: text.text, html: text.html, attachments, deferredHtml: limits.deferred };
  } catch {
    // What mailparser makes of it, an error included, is for its streaming parse to say.
    return undefined;
  }
}

function newShell(parts: MailparserParts): ParserShell {
  const shell = Object.create(MailParser.prototype) as ParserShell;
  shell.options = MAILPARSER_OPTIONS;
  shell.libmime = parts.libmime;
  shell.textTypes = TEXT_TYPES;
  shell.tree = false;
  shell.hasHtml = false;
  shell.hasText = false;
  return shell;
}

/** One part as mailparser's createNode and processChunk take it, in the same (tree) order. */
function readNode(part: MimePart, shell: ParserShell, attachments: WholeMailAttachment[], parts: MailparserParts): TextNode | undefined {
  const { node } = part;
  const contentType = node.contentType || (node.root ? 'text/plain' : false);
  const headers = shell.processHeaders(node.headers ? node.headers.getList() : []);
  const textNode: TextNode = { contentType, headers, children: [] };
  if (node.root) textNode.root = true;
  if (node.multipart) {
    for (const child of part.children) {
      const childNode = readNode(child, shell, attachments, parts);
      if (!childNode) return undefined;
      textNode.children.push(childNode);
    }
    return textNode;
  }
  const content = decodeBody(part.body ?? Buffer.alloc(0), node.encoding || '', parts);
  if (!content) return undefined;
  const isText = contentType !== false && TEXT_TYPES.includes(contentType);
  let disposition = node.disposition || undefined;
  if (disposition && disposition !== 'attachment' && disposition !== 'inline') disposition = 'attachment';
  if (!disposition) disposition = isText ? 'inline' : 'attachment';
  if (!isText || disposition !== 'inline') {
    attachments.push(describeAttachment(part, headers, contentType, content, shell));
    return textNode;
  }
  if (contentType === 'text/html') shell.hasHtml = true;
  else shell.hasText = true;
  textNode.textContent = content.toString().replace(/\r?\n/g, '\n');
  return textNode;
}

function describeAttachment(part: MimePart, headers: Headers, contentType: string | false, content: Buffer, shell: ParserShell): WholeMailAttachment {
  const filename = part.node.filename || undefined;
  let type = contentType as string;
  if (contentType === 'application/octet-stream' && filename) type = shell.libmime.detectMimeType(filename) || 'application/octet-stream';
  const contentId = headers.has('content-id') ? ([] as unknown[]).concat(headers.get('content-id') ?? []).shift() : undefined;
  const encoding = headers.get('content-transfer-encoding');
  return {
    contentType: type,
    filename,
    cid: typeof contentId === 'string' ? contentId.trim().replace(/^<|>$/g, '').trim() : undefined,
    checksum: createHash(MAILPARSER_OPTIONS.checksumAlgo).update(content).digest('hex'),
    transferEncoding: typeof encoding === 'string' ? encoding : undefined,
    content,
  };
}

/** A body decoded as mailsplit's decoders decode it, or undefined for base64 they would read in pieces. */
function decodeBody(body: Buffer, encoding: string, parts: MailparserParts): Buffer | undefined {
  if (encoding === 'quoted-printable') return parts.decodeQuotedPrintable(body);
  if (encoding !== 'base64') return body;
  let text = body.toString('latin1');
  // libbase64 drops every character outside the alphabet; Buffer.from skips line breaks itself.
  if (/[^a-zA-Z0-9+/=\r\n]/.test(text)) text = text.replace(/[^a-zA-Z0-9+/=]+/g, '');
  // Padding followed by more base64: libbase64 decodes such text segment by segment.
  const padding = text.indexOf('=');
  if (padding >= 0 && /[a-zA-Z0-9+/]/.test(text.slice(padding))) return undefined;
  return Buffer.from(text, 'base64');
}
