/**
 * The durable outbox of one m365-mail-out node, in its own folder under the Node-RED user
 * directory (layout: ./outbox-files). A mail is on disk (fsync, rename, folder fsync) before the
 * node takes the msg, and counts as gone only after the server's 250. Writes are committed in
 * groups (./outbox-writer): the msgs that arrive while one group is written are written together
 * next, as one segment file (fsynced), then one folder fsync makes it durable, then all are taken.
 * Finishing a mail rewrites the watermark (one small write, no unlink); a segment is deleted when
 * all its mails are finished (./outbox-segments). A restart finds every mail that was not
 * finished, in the order the node took them. Only sequence numbers and segment names are held in
 * memory (a few bytes per mail); a mail's content is read when it is its turn, so 10,000 waiting
 * mails cost little memory.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { removeStaleTempFiles } from '../state/atomic-file';
import { readWatermark, segmentsIn, setAsideName, WatermarkFile, type SegmentFile } from './outbox-files';
import { mailLine, parseMailLine, storageError, type NewOutboxMail, type OutboxMail } from './outbox-mail';
import { insertSorted, OutboxSegments } from './outbox-segments';
import { GroupWriter, type GroupWriterOptions } from './outbox-writer';

export type { NewOutboxMail, OutboxMail } from './outbox-mail';

export type OutboxOptions = Pick<GroupWriterOptions, 'moreComing'>;

export class Outbox {
  /** Sequence numbers of the mails on disk, oldest first. */
  private readonly queued: number[] = [];
  private nextSeq = 1;
  private listeners: Array<() => void> = [];
  private readonly writer: GroupWriter;
  private readonly segments: OutboxSegments;
  private readonly watermark: WatermarkFile;

  constructor(readonly dir: string, options: OutboxOptions = {}) {
    this.watermark = new WatermarkFile(dir);
    this.segments = new OutboxSegments(dir);
    this.writer = new GroupWriter(dir, {
      moreComing: options.moreComing,
      onDurable: (segment, lines) => {
        this.segments.written(segment, lines);
        for (const line of lines) insertSorted(this.queued, line.seq, (seq) => seq);
      },
      onAdded: () => {
        for (const listener of this.listeners) listener();
      },
    });
  }

  /** Creates the folder, drops interrupted writes and finished segments, and lists what is waiting. */
  async open(): Promise<void> {
    try {
      await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
      await removeStaleTempFiles(this.dir);
      const done = readWatermark(this.dir);
      const live: number[] = [];
      const kept: SegmentFile[] = [];
      for (const segment of segmentsIn(await fs.readdir(this.dir))) {
        if (segment.last <= done) {
          await fs.unlink(path.join(this.dir, segment.name)).catch(() => undefined);
          continue;
        }
        kept.push(segment);
        for (let seq = Math.max(segment.first, done + 1); seq <= segment.last; seq++) live.push(seq);
      }
      this.queued.length = 0;
      for (const seq of live) this.queued.push(seq);
      this.segments.found(kept);
      // Past the watermark too: a number once finished is never given to a new mail.
      this.nextSeq = Math.max(done, kept[kept.length - 1]?.last ?? 0) + 1;
    } catch (error) {
      throw storageError('be opened', error);
    }
  }

  /** Mails waiting (written and being written). */
  get size(): number {
    return this.queued.length + this.writer.size;
  }

  /** Called whenever a mail was added. */
  onAdded(listener: () => void): void {
    this.listeners.push(listener);
  }

  /**
   * Writes a mail to disk; resolves once it is durable (segment and folder fsynced). Its sequence
   * number, and so its place in the order, is fixed by this call.
   */
  add(mail: NewOutboxMail, now = Date.now()): Promise<OutboxMail> {
    const entry: OutboxMail = { ...mail, seq: this.nextSeq++, enqueuedAt: now };
    return this.writer.write(entry.seq, mailLine(entry)).then(() => entry);
  }

  /** Says that fewer mails are on their way than `moreComing` said (a msg could not be composed). */
  flush(): void {
    this.writer.flush();
  }

  /** The oldest mail's sequence number, unless an older one is still being written. */
  peek(): number | undefined {
    const first = this.queued[0];
    return first !== undefined && first < this.writer.oldestBeingWritten() ? first : undefined;
  }

  /** The mail after `seq` in order, when it is on disk and nothing older is still being written. */
  peekAfter(seq: number): number | undefined {
    const index = this.queued.indexOf(seq);
    const next = index === -1 ? undefined : this.queued[index + 1];
    return next !== undefined && next < this.writer.oldestBeingWritten() ? next : undefined;
  }

  /** Reads one mail (the same text that is on disk). */
  async load(seq: number): Promise<OutboxMail> {
    return parseMailLine(seq, await this.segments.lineOf(seq));
  }

  /**
   * Finishes a mail that the server accepted or refused for good: the watermark moves past it, and
   * a segment all of whose mails are finished is deleted. Neither is fsynced: a process crash or
   * kill keeps them (the kernel has them), and only a power cut right after can bring sent mails
   * back, to be sent again with the same Message-IDs. Mails enter durably. The drain finishes the
   * oldest mail only; one finished out of order would come back after a restart (never be lost).
   */
  async remove(seq: number): Promise<void> {
    this.segments.forget(seq);
    const at = this.queued.indexOf(seq);
    if (at !== -1) this.queued.splice(at, 1);
    const done = Math.min(this.queued[0] ?? this.nextSeq, this.writer.oldestBeingWritten()) - 1;
    try {
      this.watermark.write(done);
    } catch (error) {
      throw storageError('remove a sent mail', error);
    }
    await this.segments.deleteFinished(done);
  }

  /**
   * A mail that cannot be read is set aside, so the ones behind it are not held up: its line is
   * kept as `<seq>.mail.bad`, or, when its segment cannot be read at all, the segment is renamed
   * to `….bad` once its mails are passed.
   */
  async setAside(seq: number): Promise<void> {
    const text = this.segments.lineInMemory(seq);
    if (text !== undefined) await fs.writeFile(path.join(this.dir, setAsideName(seq)), text, { mode: 0o600 }).catch(() => undefined);
    else this.segments.markDamaged(seq);
    await this.remove(seq).catch(() => undefined);
  }

  /** Lets go of the watermark file (the node is closing); the outbox can be opened again. */
  close(): void {
    this.watermark.close();
  }

  /** Removes the folder with every mail in it (the node was deleted). */
  async destroy(): Promise<number> {
    const count = this.size;
    this.watermark.close();
    await fs.rm(this.dir, { recursive: true, force: true });
    this.queued.length = 0;
    this.segments.clear();
    return count;
  }
}
