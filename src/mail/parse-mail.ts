import { promises as fs } from 'node:fs';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { MailParser, type AttachmentStream, type Headers, type MessageText } from 'mailparser';
import { M365MailError, isM365MailError, type ErrorKind } from '../core/errors';
import { consumeAttachment, type AttachmentHandling, type ConsumedAttachment } from './attachment-sink';
import { isInlineImageCandidate, type InlineImage } from './inline-images';
import { boundParserWork, type DeferredHtml } from './parser-limits';
import { toSafeFilename } from './safe-filename';
import type { MailAttachment } from './types';
import { MAILPARSER_OPTIONS, readWholeMail, type WholeMailContent } from './whole-mail';

/** What the parse of one mail yields, before it is shaped into a message. */
export interface ParsedParts {
  headers?: Headers;
  text?: string;
  html?: string;
  attachments: MailAttachment[];
  /** Bytes of raw source read. */
  rawSize: number;
  /** The raw source, when asked for. */
  raw?: Buffer;
  /** Images with a Content-ID, by Content-ID (first of each), when inline images are wanted. */
  inlineImages: Map<string, InlineImage>;
  /** HTML parts whose text mailparser left to us (markers in `text`); see plainTextBody. */
  deferredHtml?: DeferredHtml;
}

/**
 * Parses one raw RFC 822 message. A Buffer is parsed whole (whole-mail.ts) when it can be, with
 * the same result. Otherwise it streams through mailparser's `MailParser`, handling each
 * attachment as it arrives, so large attachments are never buffered unless the policy keeps them
 * (`rawSize`, the size the server announced, lets a large kept attachment be gathered in one
 * buffer). Rejects with an M365MailError: `mail-parse` when the parser gives up, `storage` when an
 * attachment cannot be written, `network` when the source stream fails. On failure a source
 * stream is drained (not destroyed) so a protocol connection behind it stays usable, and files
 * already saved for this mail are removed.
 */
export function parseMail(source: Buffer | Readable, handling: AttachmentHandling, keepRaw: boolean, rawSize?: number): Promise<ParsedParts> {
  const whole = Buffer.isBuffer(source) ? readWholeMail(source) : undefined;
  if (whole) return keepWholeMail(whole, source as Buffer, handling, keepRaw);
  return new Promise<ParsedParts>((resolve, reject) => {
    const parser = new MailParser(MAILPARSER_OPTIONS);
    const htmlText = boundParserWork(parser);
    // A Buffer is measured and kept as it is; only a stream needs counting on its way in.
    const meter = Buffer.isBuffer(source) ? undefined : new SourceMeter(keepRaw);
    const attachments: MailAttachment[] = [];
    const inlineImages = new Map<string, InlineImage>();
    let headers: Headers | undefined;
    let textContent: MessageText | undefined;
    let current: { content: Readable; done: Promise<unknown> } | undefined;
    let reading = false;
    let settled = false;

    const fail = (error: unknown, fallbackKind: ErrorKind): void => {
      if (settled) return;
      settled = true;
      const mailError = toMailError(error, fallbackKind);
      if (source instanceof Readable) {
        source.unpipe(meter);
        source.resume();
      }
      meter?.destroy();
      parser.destroy();
      // An attachment being read would otherwise wait forever for the destroyed parser.
      current?.content.destroy();
      void (async () => {
        await current?.done.catch(() => undefined);
        await removeSavedFiles(attachments);
        reject(mailError);
      })();
    };

    const handleAttachment = async (attachment: AttachmentStream): Promise<void> => {
      const encoding = attachment.headers?.get('content-transfer-encoding');
      const found = { filename: attachment.filename, contentType: attachment.contentType, cid: attachment.cid, transferEncoding: typeof encoding === 'string' ? encoding : undefined };
      // Only a stream needs the hint: a Buffer's attachments are gathered from what they are.
      const kept = await keepAttachment(found, attachment.content, handling, meter ? rawSize : undefined, inlineImages);
      // The checksum is known once the content has been read.
      attachments.push(listAttachment(found, attachment.checksum, kept, handling));
    };

    // Pull loop as in mailparser's simpleParser: the parser waits for release() of each
    // attachment, which is what keeps memory flat while an attachment streams.
    const readNext = (): void => {
      reading = true;
      while (!settled) {
        const data = parser.read();
        if (data === null) break;
        if (data.type === 'text') {
          textContent = data;
          continue;
        }
        const done = handleAttachment(data);
        current = { content: data.content, done };
        done.then(
          () => {
            current = undefined;
            data.release?.();
            readNext();
          },
          (error: unknown) => fail(error, 'mail-parse'),
        );
        return;
      }
      reading = false;
    };

    parser.on('headers', (parsedHeaders: Headers) => {
      headers = parsedHeaders;
    });
    parser.on('readable', () => {
      if (!reading) readNext();
    });
    // Listeners stay attached after settling: a late 'error' must never go unhandled.
    parser.on('error', (error: unknown) => fail(error, 'mail-parse'));
    meter?.on('error', (error: unknown) => fail(error, 'mail-parse'));
    parser.on('end', () => {
      if (settled) return;
      settled = true;
      resolve({
        headers,
        text: textContent?.text,
        html: textContent?.html,
        attachments,
        inlineImages,
        rawSize: meter ? meter.bytes : (source as Buffer).length,
        raw: keepRaw ? (meter ? meter.raw() : (source as Buffer)) : undefined,
        deferredHtml: htmlText.deferred,
      });
    });

    if (!meter) {
      parser.end(source);
    } else {
      meter.pipe(parser);
      (source as Readable).on('error', (error: unknown) => fail(error, 'network'));
      (source as Readable).pipe(meter);
    }
  });
}

/** The attachments of a mail parsed whole go through the same policy as streamed ones, one at a time. */
async function keepWholeMail(whole: WholeMailContent, raw: Buffer, handling: AttachmentHandling, keepRaw: boolean): Promise<ParsedParts> {
  const attachments: MailAttachment[] = [];
  const inlineImages = new Map<string, InlineImage>();
  try {
    for (const attachment of whole.attachments) {
      const kept = await keepAttachment(attachment, [attachment.content], handling, undefined, inlineImages);
      attachments.push(listAttachment(attachment, attachment.checksum, kept, handling));
    }
  } catch (error) {
    await removeSavedFiles(attachments);
    throw toMailError(error, 'mail-parse');
  }
  return {
    headers: whole.headers,
    text: whole.text,
    html: whole.html,
    attachments,
    inlineImages,
    rawSize: raw.length,
    raw: keepRaw ? raw : undefined,
    deferredHtml: whole.deferredHtml,
  };
}

/** A mail that failed leaves none of its attachment files behind. */
async function removeSavedFiles(attachments: MailAttachment[]): Promise<void> {
  const saved = attachments.flatMap((attachment) => (attachment.path ? [attachment.path] : []));
  await Promise.all(saved.map((file) => fs.rm(file, { force: true }).catch(() => undefined)));
}

/** What the parser tells of an attachment before its content is read. */
interface FoundAttachment {
  filename?: string;
  contentType: string;
  cid?: string;
  transferEncoding?: string;
}

/** Applies the policy to one attachment's content; keeps an inline image's content for msg.html. */
async function keepAttachment(found: FoundAttachment, content: AsyncIterable<Buffer> | Iterable<Buffer>, handling: AttachmentHandling, rawMailBytes: number | undefined, inlineImages: Map<string, InlineImage>): Promise<ConsumedAttachment> {
  const inlineImage = handling.inlineImages === true && isInlineImageCandidate(found.cid, found.contentType) && !inlineImages.has(found.cid);
  const consumed = await consumeAttachment(content, found.filename, handling, { rawMailBytes, transferEncoding: found.transferEncoding }, inlineImage);
  if (inlineImage && consumed.content && found.cid) inlineImages.set(found.cid, { contentType: found.contentType, content: consumed.content });
  return consumed;
}

/** One entry of msg.attachments. */
function listAttachment(found: FoundAttachment, checksum: string | undefined, consumed: ConsumedAttachment, handling: AttachmentHandling): MailAttachment {
  return dropUndefined<MailAttachment>({
    // The name a flow builds a path from next is the safe one; the sender's stays beside it.
    filename: found.filename === undefined ? undefined : toSafeFilename(found.filename),
    originalFilename: found.filename,
    contentType: found.contentType,
    size: consumed.size,
    content: handling.policy === 'include' ? consumed.content : undefined,
    checksum,
    cid: found.cid,
    path: consumed.path,
    omitted: consumed.omitted,
  });
}

/** Counts the raw bytes on their way into the parser and keeps them when raw output is wanted. */
class SourceMeter extends Transform {
  bytes = 0;
  private readonly chunks: Buffer[] = [];

  constructor(private readonly keep: boolean) {
    super();
  }

  override _transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback): void {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    this.bytes += buffer.length;
    if (this.keep) this.chunks.push(buffer);
    callback(null, buffer);
  }

  raw(): Buffer {
    return Buffer.concat(this.chunks, this.bytes);
  }
}

function toMailError(error: unknown, fallbackKind: ErrorKind): M365MailError {
  if (isM365MailError(error)) return error;
  const detail = error instanceof Error ? error.message : String(error);
  if (fallbackKind === 'network') {
    return new M365MailError(`Reading the mail from the server failed: ${detail}`, {
      kind: 'network',
      retryable: true,
      fix: 'The connection dropped while the mail was downloaded; it is fetched again on the next check.',
      cause: error,
    });
  }
  return new M365MailError(`The mail could not be parsed: ${detail}`, {
    kind: 'mail-parse',
    fix: 'The mail is malformed and was skipped; other mail is not affected. Inspect it in Outlook on the web.',
    cause: error,
  });
}

/** Builds a fresh object without the keys whose value is undefined (cleaner in the debug sidebar). */
export function dropUndefined<T extends object>(value: T): T {
  const result: Record<string, unknown> = {};
  // Own keys only, without Object.entries' array per key (this runs for every mail and attachment).
  for (const key of Object.keys(value)) {
    const entry = (value as Record<string, unknown>)[key];
    if (entry !== undefined) result[key] = entry;
  }
  return result as T;
}
