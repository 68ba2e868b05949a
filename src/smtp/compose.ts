/**
 * Input msg → nodemailer mail options, field by field as node-red-node-email's "e-mail" node reads
 * them (social/email/61-email.js of node-red/node-red-nodes), so a flow that fed that node produces
 * the same mail here. Differences are additions: the node's own defaults (cc, bcc, subject), `msg.html`,
 * recipients given as address objects (as the readers emit them), and a `path` attachment only
 * inside the folder the node allows (read in at once, see ./attachments).
 *
 * Which msg field wins over which node property (the README's table says the same):
 * - `to`, `cc`, `bcc`, `replyTo`: when the node has a `to`, the node's recipients are used and the
 *   msg's `to`/`cc`/`bcc`/`replyTo` are ignored (node-red-node-email's rule: a fixed recipient
 *   cannot be redirected by a msg). Without a node `to`, the msg's fields are used, and the node's
 *   `cc`/`bcc` fill in where the msg has none.
 * - subject: `msg.topic` (an empty string too), else `msg.title`, else the node's `subject`, else
 *   "Message from Node-RED". A msg with `header['message-id']` (a mail from a reader) is answered:
 *   In-Reply-To is that ID and the subject gets "Re: ", as node-red-node-email does.
 * - `from`: `msg.from`, else the mailbox that logs in.
 * - always from the msg: `inReplyTo`, `references`, `headers`, `priority`, `envelope`, `attachments`.
 */
import type Mail from 'nodemailer/lib/mailer';
import { M365MailError } from '../core/errors';

/** The node properties that give defaults. */
export interface ComposeDefaults {
  /** The mailbox that logs in; the From address unless msg.from says otherwise. */
  mailbox: string;
  to: string;
  cc: string;
  bcc: string;
  subject: string;
}

/** node-red-node-email's subject when a msg has none. */
export const DEFAULT_SUBJECT = 'Message from Node-RED';

type Msg = Record<string, unknown>;
type AddressInput = string | Mail.Address | Array<string | Mail.Address>;

/** Node-RED's RED.util.ensureString. */
export function ensureString(value: unknown): string {
  if (Buffer.isBuffer(value)) return value.toString();
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  if (typeof value === 'string') return value;
  return `${value as string}`;
}

function composeError(message: string, fix: string): M365MailError {
  return new M365MailError(message, { kind: 'config', fix, retryable: false });
}

/**
 * Recipients as a string, a comma list, an array of strings / {name, address}, or the address
 * objects the readers emit ({value: [{name, address}], text}); undefined when there are none.
 */
export function toAddresses(value: unknown, field: string): AddressInput | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') return value;
  const list = Array.isArray(value) ? value : [value];
  const out: Array<string | Mail.Address> = [];
  for (const item of list) {
    if (typeof item === 'string') {
      if (item.trim()) out.push(item);
    } else if (item && typeof item === 'object' && Array.isArray((item as { value?: unknown }).value)) {
      for (const inner of (item as { value: unknown[] }).value) {
        const address = (inner as { address?: unknown })?.address;
        if (typeof address === 'string' && address) out.push({ name: String((inner as { name?: unknown }).name ?? ''), address });
      }
    } else if (item && typeof item === 'object' && typeof (item as { address?: unknown }).address === 'string') {
      const { name, address } = item as { name?: unknown; address: string };
      out.push({ name: typeof name === 'string' ? name : '', address });
    } else {
      throw composeError(`msg.${field} is not an address`, `Set msg.${field} to "name@domain", a comma-separated list, or an array of addresses.`);
    }
  }
  return out.length > 0 ? out : undefined;
}

function has(msg: Msg, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(msg, key);
}

/** File extension node-red-node-email guesses for a Buffer payload from its first bytes. */
function guessExtension(payload: Buffer): string {
  if (payload[0] === 0xff && payload[1] === 0xd8) return 'jpg';
  if (payload[0] === 0x47 && payload[1] === 0x49) return 'gif';
  if (payload[0] === 0x42 && payload[1] === 0x4d) return 'bmp';
  if (payload[0] === 0x89 && payload[1] === 0x50) return 'png';
  return 'bin';
}

/** The same HTML test as node-red-node-email: anything that looks like a tag. */
export function looksLikeHtml(text: string): boolean {
  return /<[a-z][\s\S]*>/i.test(text);
}

function normalizeAttachments(value: unknown): Mail.Attachment[] {
  const list = (Array.isArray(value) ? value : [value]) as unknown[];
  return list.map((item, index) => {
    if (!item || typeof item !== 'object') {
      throw composeError(`msg.attachments[${index}] is not an object`, 'Give each attachment as {filename, content} (content a string or Buffer), nodemailer\'s format.');
    }
    const attachment = item as Mail.Attachment;
    if (has(attachment as Msg, 'content') && typeof attachment.content !== 'string' && !Buffer.isBuffer(attachment.content)) {
      throw composeError('Invalid attachment content. Must be String or buffer', 'Give each attachment\'s content as a string or a Buffer.');
    }
    return { ...attachment };
  });
}

/**
 * The mail options for one msg, without Message-ID and Date (fixed when the mail enters the
 * outbox). Throws an M365MailError (kind 'config') for a msg that cannot become a mail.
 */
export function composeMailOptions(msg: Msg, defaults: ComposeDefaults): Mail.Options {
  if (!has(msg, 'payload') && !has(msg, 'html')) {
    throw composeError('The msg has no payload', 'Put the mail body into msg.payload (or msg.html).');
  }
  const options: Mail.Options = {};
  options.from = (toAddresses(msg.from, 'from') as Mail.Options['from']) ?? defaults.mailbox;
  const nodeTo = defaults.to.trim();
  if (nodeTo) {
    options.to = nodeTo;
    if (defaults.cc.trim()) options.cc = defaults.cc.trim();
    if (defaults.bcc.trim()) options.bcc = defaults.bcc.trim();
  } else {
    options.to = toAddresses(msg.to, 'to');
    options.cc = toAddresses(msg.cc, 'cc') ?? (defaults.cc.trim() || undefined);
    options.bcc = toAddresses(msg.bcc, 'bcc') ?? (defaults.bcc.trim() || undefined);
    options.replyTo = toAddresses(msg.replyTo, 'replyTo');
  }
  if (!options.to && !options.cc && !options.bcc && !(msg.envelope && typeof msg.envelope === 'object')) {
    throw composeError('The mail has no recipient', 'Set "To" in the node, or msg.to (a string, comma-separated list or array).');
  }
  if (msg.inReplyTo) options.inReplyTo = String(msg.inReplyTo);
  if (msg.references) options.references = Array.isArray(msg.references) ? msg.references.map(String) : String(msg.references);
  if (msg.headers && typeof msg.headers === 'object') options.headers = msg.headers as Mail.Headers;
  if (msg.priority) {
    const priority = String(msg.priority);
    if (priority !== 'high' && priority !== 'normal' && priority !== 'low') {
      throw composeError(`msg.priority "${priority}" is not known`, 'Use "high", "normal" or "low".');
    }
    options.priority = priority;
  }

  if (has(msg, 'topic') && msg.topic === '') options.subject = '';
  else options.subject = ensureStringOrEmpty(msg.topic) || ensureStringOrEmpty(msg.title) || defaults.subject || DEFAULT_SUBJECT;
  const header = msg.header as Record<string, unknown> | undefined;
  if (header && typeof header === 'object' && has(header, 'message-id')) {
    options.inReplyTo = String(header['message-id']);
    options.subject = `Re: ${options.subject}`;
  }
  if (msg.envelope && typeof msg.envelope === 'object') options.envelope = msg.envelope as Mail.Options['envelope'];

  if (Buffer.isBuffer(msg.payload)) {
    // node-red-node-email turns a Buffer payload into an attachment with a short text body.
    const filename = (typeof msg.filename === 'string' && msg.filename ? msg.filename : `attachment.${guessExtension(msg.payload)}`).replace(/^.*[\\/]/, '') || 'attachment.bin';
    const attachment: Mail.Attachment = { content: msg.payload, filename };
    const contentType = (msg.headers as Record<string, unknown> | undefined)?.['content-type'];
    if (typeof contentType === 'string') attachment.contentType = contentType;
    options.attachments = [attachment];
    options.text = has(msg, 'description') ? ensureString(msg.description) : `\nFile from Node-RED is attached: ${filename}`;
    return options;
  }

  const payload = has(msg, 'payload') ? ensureString(msg.payload) : '';
  options.text = payload;
  if (typeof msg.html === 'string' && msg.html) {
    options.html = msg.html;
  } else if (looksLikeHtml(payload)) {
    options.html = payload;
    if (has(msg, 'plaintext')) options.text = ensureString(msg.plaintext);
  }
  if (msg.attachments) options.attachments = normalizeAttachments(msg.attachments);
  return options;
}

function ensureStringOrEmpty(value: unknown): string {
  return value === undefined || value === null ? '' : ensureString(value);
}
