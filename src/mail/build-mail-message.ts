import { Readable } from 'node:stream';
import { NODE_OPTIONS } from '../config/options';
import { M365MailError } from '../core/errors';
import { firstAddress, headersToObject, toAddressObject } from './address-fields';
import { prepareAttachmentDir } from './attachment-dir';
import { DEFAULT_INLINE_IMAGES, INLINE_IMAGES_MODES, inlineCidImages, type InlineImagesMode } from './inline-images';
import { dropUndefined, parseMail, type ParsedParts } from './parse-mail';
import { plainTextBody } from './plain-text';
import type { AttachmentPolicy, BuildMailOptions, MailInfo, MailMessage, MailMeta, OutputMode } from './types';

// The readers' options, values and defaults: the node options table.
const READER = NODE_OPTIONS['m365-imap-in'];

/** 25 MiB: the default of `maxAttachmentBytes` (CONTRACT.md). */
export const DEFAULT_MAX_ATTACHMENT_BYTES = READER.maxAttachmentBytes.default;

interface Settings {
  output: OutputMode;
  policy: AttachmentPolicy;
  inlineImages: InlineImagesMode;
  attachmentDir?: string;
  maxBytes: number;
}

/**
 * Builds the Node-RED output message for one raw RFC 822 mail (a Buffer, or a stream such as an
 * IMAP FETCH body or a POP3 RETR response).
 *
 * Attachments are streamed through mailparser one at a time: `include` keeps their content,
 * `omit` only lists them, `save` writes each to a new file in `attachmentDir` (created when
 * missing) with a sanitised, never-overwriting name and sets `path`. Content above
 * `maxAttachmentBytes` is never kept: the attachment is listed with `omitted: true`.
 *
 * Every object in the result is new; nothing of any input message can leak into it.
 * Rejects with M365MailError: `config` (bad options), `storage` (attachment folder or file),
 * `mail-parse` (the mail is too broken to parse; report it and go on with the next one),
 * `network` (the source stream failed). A source stream is always read to its end.
 */
export async function buildMailMessage(source: Buffer | Readable, options: BuildMailOptions): Promise<MailMessage> {
  let parts: ParsedParts;
  let settings: Settings;
  try {
    settings = resolveSettings(options);
    const realDir = settings.policy === 'save' ? await prepareAttachmentDir(settings.attachmentDir ?? '') : undefined;
    const handling = { policy: settings.policy, maxBytes: settings.maxBytes, realDir, inlineImages: settings.output === 'parsed' && settings.inlineImages === 'data-uri' };
    parts = await parseMail(source, handling, settings.output === 'raw', options.meta?.size);
  } catch (error) {
    // Keep the protocol stream flowing even when we never started parsing it.
    if (source instanceof Readable && !source.readableEnded) source.resume();
    throw error;
  }
  const payload = settings.output === 'raw' ? (parts.raw ?? Buffer.alloc(0)) : await plainTextBody(parts.text, parts.html, parts.deferredHtml);
  return toMailMessage(parts, payload, options.meta);
}

function resolveSettings(options: BuildMailOptions): Settings {
  const output = options.output ?? READER.output.default;
  const policy = options.attachments ?? READER.attachments.default;
  const max = options.maxAttachmentBytes ?? DEFAULT_MAX_ATTACHMENT_BYTES;
  const inlineImages = options.inlineImages ?? DEFAULT_INLINE_IMAGES;
  if (!INLINE_IMAGES_MODES.includes(inlineImages)) {
    throw configError(`Unknown inlineImages "${String(inlineImages)}"`, `Set "inlineImages" to ${INLINE_IMAGES_MODES.join(' or ')}.`);
  }
  if (!READER.output.values.includes(output)) throw configError(`Unknown output "${String(output)}"`, `Set "output" to ${READER.output.values.join(' or ')}.`);
  if (!READER.attachments.values.includes(policy)) {
    throw configError(`Unknown attachments policy "${String(policy)}"`, `Set "attachments" to ${READER.attachments.values.join(', ')}.`);
  }
  if (typeof max !== 'number' || Number.isNaN(max) || max < 0) {
    throw configError(`Invalid maxAttachmentBytes "${String(max)}"`, 'Set "maxAttachmentBytes" to a number of bytes (0 = no limit).');
  }
  if (policy === 'save' && !options.attachmentDir) {
    throw configError('Attachments are to be saved but no folder is set', 'Set "attachmentDir" to the folder for attachment files.');
  }
  if (!options.meta || (options.meta.protocol !== 'imap' && options.meta.protocol !== 'pop3')) {
    throw configError('Mail meta data is missing its protocol', 'Pass meta.protocol "imap" or "pop3" (programming error in the node).');
  }
  return { output, policy, inlineImages, attachmentDir: options.attachmentDir, maxBytes: max === 0 ? Infinity : max };
}

function configError(message: string, fix: string): M365MailError {
  return new M365MailError(message, { kind: 'config', fix });
}

function toMailMessage(parts: ParsedParts, payload: string | Buffer, meta: MailMeta): MailMessage {
  const header = headersToObject(parts.headers);
  const get = (name: string) => parts.headers?.get(name);
  const subject = get('subject');
  const date = get('date');
  const messageId = get('message-id');
  const from = toAddressObject(get('from'));
  return dropUndefined<MailMessage>({
    payload,
    html: (parts.html && inlineCidImages(parts.html, parts.inlineImages)) || undefined,
    topic: typeof subject === 'string' ? subject : '',
    from: firstAddress(from),
    to: toAddressObject(get('to')),
    cc: toAddressObject(get('cc')),
    bcc: toAddressObject(get('bcc')),
    replyTo: toAddressObject(get('reply-to')),
    date: date instanceof Date ? date : undefined,
    header,
    messageId: typeof messageId === 'string' ? messageId : undefined,
    attachments: parts.attachments,
    mail: toMailInfo(meta, parts.rawSize),
  });
}

function toMailInfo(meta: MailMeta, rawSize: number): MailInfo {
  return dropUndefined<MailInfo>({
    protocol: meta.protocol,
    mailbox: meta.mailbox,
    folder: meta.folder,
    uid: meta.uid,
    uidValidity: meta.uidValidity === undefined ? undefined : String(meta.uidValidity),
    uidl: meta.uidl,
    flags: meta.flags === undefined ? undefined : [...meta.flags],
    size: meta.size ?? rawSize,
  });
}
