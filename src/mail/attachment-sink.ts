import { promises as fs } from 'node:fs';
import type { Readable } from 'node:stream';
import { M365MailError } from '../auth/errors';
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
}

/** What became of one attachment's content. */
export interface ConsumedAttachment {
  size: number;
  content?: Buffer;
  path?: string;
  omitted?: true;
}

/**
 * Reads one attachment's content stream to its end and applies the policy: keep it in memory
 * (`include`), count it only (`omit`), or stream it to a new file (`save`). Once the content
 * passes `maxBytes` nothing more of it is kept (a partly written file is removed) but the stream
 * is still drained so the parser can go on; the result then has `omitted: true`.
 */
export async function consumeAttachment(
  content: Readable,
  filename: string | undefined,
  handling: AttachmentHandling,
): Promise<ConsumedAttachment> {
  const sink = handling.policy === 'save' ? await FileSink.create(handling.realDir, filename) : undefined;
  const keep = handling.policy === 'include';
  const chunks: Buffer[] = [];
  let size = 0;
  let overCap = false;
  try {
    for await (const chunk of content as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (overCap) continue;
      if (size > handling.maxBytes) {
        overCap = true;
        chunks.length = 0;
        await sink?.discard();
        continue;
      }
      if (keep) chunks.push(chunk);
      await sink?.write(chunk);
    }
    if (overCap) return { size, omitted: true };
    if (sink) return { size, path: await sink.finish() };
    return keep ? { size, content: Buffer.concat(chunks, size) } : { size };
  } catch (error) {
    await sink?.discard();
    throw error;
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
