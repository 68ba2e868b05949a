import { promises as fs } from 'node:fs';
import { M365MailError } from '../core/errors';
import { createUniqueFile, type CreatedFile } from './attachment-dir';
import type { AttachmentPolicy } from './types';

/** Bytes gathered before one write to disk (the parser hands out small chunks). */
const WRITE_BATCH_BYTES = 256 * 1024;

export interface AttachmentHandling {
  policy: AttachmentPolicy;
  /** Content above this many bytes is dropped (`Infinity` = no cap). */
  maxBytes: number;
  /** Real path of the attachment folder, required for `save`. */
  realDir?: string;
  /** Keep the content of images with a Content-ID too, to put them into msg.html as `data:` URIs. */
  inlineImages?: boolean;
}

/** What is known of an attachment's size before its content is read. */
export interface ContentSizeHint {
  /** Raw (encoded) bytes of the whole mail, as the server announced them: no attachment decodes to more. */
  rawMailBytes?: number;
  /** Content-Transfer-Encoding of the attachment; base64 decodes to at most 3/4 of its bytes. */
  transferEncoding?: string;
}

/** Below this, content is gathered in chunks and joined once: a copy of a small buffer is cheap. */
const PREALLOCATE_FROM_BYTES = 1024 * 1024;

/** What became of one attachment's content. */
export interface ConsumedAttachment {
  size: number;
  content?: Buffer;
  path?: string;
  omitted?: true;
}

/**
 * Reads one attachment's content stream to its end and applies the policy: keep it in memory
 * (`include`), count it only (`omit`), or stream it to a new file (`save`); `keepContent` keeps
 * it in memory as well. Once the content
 * passes `maxBytes` nothing more of it is kept (a partly written file is removed) but the stream
 * is still drained so the parser can go on; the result then has `omitted: true`.
 */
export async function consumeAttachment(
  content: AsyncIterable<Buffer> | Iterable<Buffer>,
  filename: string | undefined,
  handling: AttachmentHandling,
  hint: ContentSizeHint = {},
  keepContent = false,
): Promise<ConsumedAttachment> {
  const sink = handling.policy === 'save' ? await FileSink.create(handling.realDir, filename) : undefined;
  // `keepContent`: an inline image is needed for msg.html whatever the policy.
  const keep = handling.policy === 'include' || keepContent;
  const chunks = new ContentCollector(keep ? Math.min(upperBound(hint), handling.maxBytes) : 0);
  let size = 0;
  let overCap = false;
  try {
    for await (const chunk of content) {
      size += chunk.length;
      if (overCap) continue;
      if (size > handling.maxBytes) {
        overCap = true;
        chunks.clear();
        await sink?.discard();
        continue;
      }
      if (keep) chunks.push(chunk);
      await sink?.write(chunk);
    }
    if (overCap) return { size, omitted: true };
    const kept = keep ? chunks.content() : undefined;
    if (sink) return { size, path: await sink.finish(), content: kept };
    return { size, content: kept };
  } catch (error) {
    await sink?.discard();
    throw error;
  }
}

/** The most bytes an attachment can decode to, from the size of the whole raw mail. */
function upperBound(hint: ContentSizeHint): number {
  if (hint.rawMailBytes === undefined || !Number.isFinite(hint.rawMailBytes) || hint.rawMailBytes <= 0) return 0;
  const base64 = hint.transferEncoding?.trim().toLowerCase() === 'base64';
  return Math.ceil(base64 ? (hint.rawMailBytes * 3) / 4 : hint.rawMailBytes);
}

/**
 * Keeps an attachment's decoded chunks. A large one is copied into one buffer sized from the
 * hint as it arrives, so a 50 MB attachment costs 50 MB, not 50 MB of chunks plus a 50 MB join.
 * The room is reserved, not touched: untouched pages of a large allocation take no memory, so the
 * bound may be loose (the whole mail) while the content costs only what it fills.
 * Content that outgrows the room (a wrong hint) falls back to chunks joined at the end.
 */
class ContentCollector {
  private buffer?: Buffer;
  private filled = 0;
  private chunks: Buffer[] = [];
  private chunkBytes = 0;

  constructor(private readonly room: number) {}

  push(chunk: Buffer): void {
    if (!this.buffer && this.chunks.length === 0 && this.room >= PREALLOCATE_FROM_BYTES) this.buffer = Buffer.allocUnsafe(this.room);
    if (this.buffer && this.chunks.length === 0 && this.filled + chunk.length <= this.buffer.length) {
      chunk.copy(this.buffer, this.filled);
      this.filled += chunk.length;
      return;
    }
    if (this.buffer && this.chunks.length === 0) {
      // Outgrew the room: what is filled becomes the first chunk.
      this.chunks.push(this.buffer.subarray(0, this.filled));
      this.chunkBytes = this.filled;
    }
    this.chunks.push(chunk);
    this.chunkBytes += chunk.length;
  }

  clear(): void {
    this.buffer = undefined;
    this.filled = 0;
    this.chunks = [];
    this.chunkBytes = 0;
  }

  content(): Buffer {
    if (this.buffer && this.chunks.length === 0) {
      // Far too much room (the hint covered later attachments too): keep an exact copy instead.
      return this.buffer.length - this.filled > Math.max(PREALLOCATE_FROM_BYTES, this.filled / 4)
        ? Buffer.from(this.buffer.subarray(0, this.filled))
        : this.buffer.subarray(0, this.filled);
    }
    return Buffer.concat(this.chunks, this.chunkBytes);
  }
}

/** A new attachment file written in batches; removed again on discard. */
class FileSink {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private file: CreatedFile | undefined;

  private constructor(file: CreatedFile) {
    this.file = file;
  }

  static async create(realDir: string | undefined, filename: string | undefined): Promise<FileSink> {
    if (!realDir) {
      throw new M365MailError('No attachment folder for "save"', {
        kind: 'config',
        fix: 'Set "attachmentDir" when attachments are saved to files.',
      });
    }
    return new FileSink(await createUniqueFile(realDir, filename));
  }

  async write(chunk: Buffer): Promise<void> {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= WRITE_BATCH_BYTES) await this.writePending();
  }

  /** Writes what is left, closes the file and returns its path. */
  async finish(): Promise<string> {
    const file = this.requireFile();
    await this.writePending();
    this.file = undefined;
    try {
      await file.handle.close();
    } catch (error) {
      await fs.rm(file.path, { force: true });
      throw writeError(file.path, error);
    }
    return file.path;
  }

  /** Closes and removes the file; safe to call more than once. */
  async discard(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    this.pending = [];
    this.pendingBytes = 0;
    if (!file) return;
    await file.handle.close().catch(() => undefined);
    await fs.rm(file.path, { force: true }).catch(() => undefined);
  }

  private async writePending(): Promise<void> {
    const file = this.requireFile();
    if (this.pendingBytes === 0) return;
    const data = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    try {
      await file.handle.write(data);
    } catch (error) {
      throw writeError(file.path, error);
    }
  }

  private requireFile(): CreatedFile {
    if (!this.file) throw new Error('attachment file already closed');
    return this.file;
  }
}

function writeError(filePath: string, cause: unknown): M365MailError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new M365MailError(`Cannot write attachment file ${filePath} (${code ?? 'error'})`, {
    kind: 'storage',
    fix: 'Check free disk space and permissions of the attachment folder.',
    code,
    cause,
  });
}
