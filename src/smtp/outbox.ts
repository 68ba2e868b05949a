/**
 * The durable outbox of one m365-mail-out node, in its own folder under the Node-RED user
 * directory (layout: ./outbox-files). A mail is on disk (fsync, rename, folder fsync) before the
 * node takes the msg, and counts as gone only after the server's 250. Writes are committed in
 * groups: the msgs that arrive while one group is written are written together next, as one
 * segment file (fsynced), then one folder fsync makes it durable, then all are taken. Finishing a
 * mail rewrites the watermark (one small write, no unlink); a segment is deleted when all its
 * mails are finished. A restart finds every mail that was not finished, in the order the node took
 * them. Only sequence numbers and segment names are held in memory (a few bytes per mail); a mail's
 * content is read when it is its turn, so 10,000 waiting mails cost little memory.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { M365MailError } from '../core/errors';
import { nextTurnOfLoop, TaskLimiter } from '../core/tasks';
import { removeStaleTempFiles, replaceFileUnsynced, syncDirectory } from '../state/atomic-file';
import type { SmtpEnvelope } from './compile';
import { decodeMsg, encodeMsg } from './msg-codec';
import { linesBySeq, readWatermark, segmentName, segmentsIn, setAsideName, WatermarkFile, type SegmentFile } from './outbox-files';

/** One mail in the outbox. */
export interface OutboxMail {
  seq: number;
  /** ms since epoch when the node took the msg. */
  enqueuedAt: number;
  /** The mailbox that logs in and sends it. */
  mailbox: string;
  messageId: string;
  envelope: SmtpEnvelope;
  raw: Buffer;
  /** The input msg it came from. */
  msg: Record<string, unknown>;
}

export type NewOutboxMail = Omit<OutboxMail, 'seq' | 'enqueuedAt'>;

export interface OutboxOptions {
  /**
   * Whether more mails are on their way to `add` without waiting for a commit (msgs being
   * composed): the next group waits for them, up to GROUP_TARGET. Whoever says so calls `add` or
   * `flush` for each of them; default: none.
   */
  moreComing?: () => boolean;
}

/** A mail waiting to be written with the next group. */
interface PendingWrite {
  seq: number;
  text: string;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Segments of a group written at once (a large group is cut into several). libuv's thread pool has
 * 4 threads and serves its queue in order: more at once would queue the drain's reads behind fsyncs.
 */
const WRITERS = 2;
/**
 * A segment holds at most this many chars (a larger mail gets a segment of its own): a mail that is
 * no longer in memory is read with its whole segment, so this bounds what one read costs.
 */
const SEGMENT_CHARS = 4 * 1024 * 1024;

/**
 * A group waits for mails still being composed until it has this many. Each commit costs an fsync
 * of its segment and of the folder (about a millisecond of the kernel's time each here), so 1,000
 * mails in groups of 5 cost far more than in groups of 32.
 */
const GROUP_TARGET = 32;

/** Written mails kept in memory for the drain: at most this many, of at most this many chars in all. */
const RECENT_MAILS = 256;
const RECENT_CHARS = 16 * 1024 * 1024;

const FORMAT = 1;

function storageError(action: string, error: unknown): M365MailError {
  const code = (error as NodeJS.ErrnoException).code ?? 'error';
  return new M365MailError(`The outbox could not ${action} (${code}).`, {
    kind: 'storage', retryable: false, cause: error,
    fix: 'Check that the Node-RED user directory can be written and has free space.',
  });
}

/** A group cut into runs of consecutive mails, each at most SEGMENT_CHARS (unless one mail is larger). */
function cutIntoSegments(group: PendingWrite[]): PendingWrite[][] {
  const pieces: PendingWrite[][] = [];
  let chars = 0;
  for (const write of group) {
    const current = pieces[pieces.length - 1];
    if (current && chars + write.text.length <= SEGMENT_CHARS) {
      current.push(write);
      chars += write.text.length + 1;
    } else {
      pieces.push([write]);
      chars = write.text.length + 1;
    }
  }
  return pieces;
}

export class Outbox {
  /** Sequence numbers of the mails on disk, oldest first. */
  private readonly queued: number[] = [];
  /** Sequence numbers being written: a later mail waits until these are on disk (order). */
  private readonly writing = new Set<number>();
  private nextSeq = 1;
  private listeners: Array<() => void> = [];
  /** Mails for the next group commit, in sequence order. */
  private pending: PendingWrite[] = [];
  private committing = false;
  /** Wakes a group that waits for more mails (see OutboxOptions.moreComing). */
  private wakeGroup?: () => void;
  /**
   * The text of recently written mails, so the drain need not read back what it just wrote (a read
   * queues behind the fsyncs of the intake). Bounded: the rest is read from disk when its turn comes.
   */
  private readonly recent = new Map<number, string>();
  private recentChars = 0;
  /** Segment files on disk, oldest first. */
  private segments: SegmentFile[] = [];
  /** Segments that could not be read: renamed to `.bad` instead of deleted once passed. */
  private readonly damaged = new Set<string>();
  /** The lines of the segment read last (the drain takes its mails one after the other). */
  private lastRead?: { name: string; lines: Map<number, string> };
  private readonly watermark: WatermarkFile;

  constructor(readonly dir: string, private readonly options: OutboxOptions = {}) {
    this.watermark = new WatermarkFile(dir);
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
      this.segments = kept;
      // Past the watermark too: a number once finished is never given to a new mail.
      this.nextSeq = Math.max(done, kept[kept.length - 1]?.last ?? 0) + 1;
    } catch (error) {
      throw storageError('be opened', error);
    }
  }

  /** Mails waiting (written and being written). */
  get size(): number {
    return this.queued.length + this.writing.size;
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
    const seq = this.nextSeq++;
    const entry: OutboxMail = { ...mail, seq, enqueuedAt: now };
    // One line (JSON escapes every newline), starting with format and number (see linesBySeq).
    const text = `{"v":${FORMAT},"seq":${seq},"enqueuedAt":${now},"mailbox":${JSON.stringify(mail.mailbox)},`
      + `"messageId":${JSON.stringify(mail.messageId)},"envelope":${JSON.stringify(mail.envelope)},`
      + `"raw":${JSON.stringify(mail.raw.toString('latin1'))},"msg":${encodeMsg(mail.msg)}}`;
    this.writing.add(seq);
    return new Promise<OutboxMail>((resolve, reject) => {
      this.pending.push({ seq, text, resolve: () => resolve(entry), reject });
      if (!this.committing) void this.commitGroups();
      this.wakeGroup?.();
    });
  }

  /** Says that fewer mails are on their way than `moreComing` said (a msg could not be composed). */
  flush(): void {
    this.wakeGroup?.();
  }

  /** Writes the pending mails group by group until none are left. */
  private async commitGroups(): Promise<void> {
    this.committing = true;
    try {
      while (this.pending.length > 0) {
        // One turn of the event loop first: the msgs whose intake the last group freed join this one.
        await nextTurnOfLoop();
        if (this.pending.length < GROUP_TARGET && this.options.moreComing?.()) {
          // More mails are being composed: one commit for them all costs one fsync instead of many.
          await new Promise<void>((resolve) => { this.wakeGroup = resolve; });
          this.wakeGroup = undefined;
          continue;
        }
        await this.commit(this.pending.splice(0));
      }
    } finally {
      this.committing = false;
    }
  }

  /** One group: its segment files written and fsynced, then one folder fsync, then all taken. */
  private async commit(group: PendingWrite[]): Promise<void> {
    const pieces = cutIntoSegments(group).map((writes) => ({
      writes, segment: { name: segmentName(writes[0].seq, writes[writes.length - 1].seq), first: writes[0].seq, last: writes[writes.length - 1].seq },
    }));
    const writers = new TaskLimiter(WRITERS);
    const written = await Promise.allSettled(pieces.map(({ writes, segment }) => writers.run(() => replaceFileUnsynced(path.join(this.dir, segment.name), `${writes.map((w) => w.text).join('\n')}\n`))));
    let folderError: unknown;
    if (written.some((result) => result.status === 'fulfilled')) {
      try {
        await syncDirectory(this.dir);
      } catch (error) {
        folderError = error;
      }
    }
    let added = false;
    for (const [index, { writes, segment }] of pieces.entries()) {
      const result = written[index];
      const error = result.status === 'rejected' ? result.reason : folderError;
      for (const write of writes) this.writing.delete(write.seq);
      if (error === undefined) {
        insertSorted(this.segments, segment, (s) => s.first);
        for (const write of writes) {
          insertSorted(this.queued, write.seq, (seq) => seq);
          this.remember(write.seq, write.text);
          write.resolve();
        }
        added = true;
      } else {
        // Not durable, so not taken: the file (if its rename happened) must not be sent later.
        if (result.status === 'fulfilled') await fs.rm(path.join(this.dir, segment.name), { force: true }).catch(() => undefined);
        for (const write of writes) write.reject(storageError('store the mail', error));
      }
    }
    if (added) for (const listener of this.listeners) listener();
  }

  /** The oldest mail's sequence number, unless an older one is still being written. */
  peek(): number | undefined {
    const first = this.queued[0];
    return first !== undefined && first < this.oldestBeingWritten() ? first : undefined;
  }

  /** The mail after `seq` in order, when it is on disk and nothing older is still being written. */
  peekAfter(seq: number): number | undefined {
    const index = this.queued.indexOf(seq);
    const next = index === -1 ? undefined : this.queued[index + 1];
    return next !== undefined && next < this.oldestBeingWritten() ? next : undefined;
  }

  /** The lowest sequence number still being written (Infinity when none is). */
  private oldestBeingWritten(): number {
    let oldest = Infinity;
    for (const seq of this.writing) oldest = Math.min(oldest, seq);
    return oldest;
  }

  private remember(seq: number, text: string): void {
    if (this.recent.size >= RECENT_MAILS || this.recentChars + text.length > RECENT_CHARS) return;
    this.recent.set(seq, text);
    this.recentChars += text.length;
  }

  private forget(seq: number): string | undefined {
    const text = this.recent.get(seq);
    if (text === undefined) return undefined;
    this.recent.delete(seq);
    this.recentChars -= text.length;
    return text;
  }

  /** The segment holding `seq`. */
  private segmentOf(seq: number): SegmentFile | undefined {
    let low = 0;
    let high = this.segments.length - 1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      const segment = this.segments[mid];
      if (seq < segment.first) high = mid - 1;
      else if (seq > segment.last) low = mid + 1;
      else return segment;
    }
    return undefined;
  }

  /** The mail's line: from memory when just written, else from its segment (read whole, kept until the next). */
  private async lineOf(seq: number): Promise<string> {
    const text = this.forget(seq) ?? this.lastRead?.lines.get(seq);
    if (text !== undefined) return text;
    const segment = this.segmentOf(seq);
    if (!segment) throw storageError('find a mail', Object.assign(new Error('no segment'), { code: 'ENOENT' }));
    let content: string;
    try {
      content = await fs.readFile(path.join(this.dir, segment.name), 'utf8');
    } catch (error) {
      throw storageError('read a mail', error);
    }
    this.lastRead = { name: segment.name, lines: linesBySeq(content) };
    const line = this.lastRead.lines.get(seq);
    if (line === undefined) throw storageError('read a damaged mail', new Error('line missing'));
    return line;
  }

  /** Reads one mail (the same text that is on disk). */
  async load(seq: number): Promise<OutboxMail> {
    const text = await this.lineOf(seq);
    let data: Record<string, unknown>;
    try {
      data = decodeMsg(text);
    } catch (error) {
      throw storageError('read a damaged mail', error);
    }
    if (data.v !== FORMAT) throw storageError(`read a mail of format ${String(data.v)}`, new Error('format'));
    return {
      seq,
      enqueuedAt: Number(data.enqueuedAt),
      mailbox: String(data.mailbox),
      messageId: String(data.messageId),
      envelope: data.envelope as SmtpEnvelope,
      raw: Buffer.from(String(data.raw), 'latin1'),
      msg: (data.msg ?? {}) as Record<string, unknown>,
    };
  }

  /**
   * Finishes a mail that the server accepted or refused for good: the watermark moves past it, and
   * a segment all of whose mails are finished is deleted. Neither is fsynced: a process crash or
   * kill keeps them (the kernel has them), and only a power cut right after can bring sent mails
   * back, to be sent again with the same Message-IDs. Mails enter durably. The drain finishes the
   * oldest mail only; one finished out of order would come back after a restart (never be lost).
   */
  async remove(seq: number): Promise<void> {
    this.forget(seq);
    const at = this.queued.indexOf(seq);
    if (at !== -1) this.queued.splice(at, 1);
    const done = Math.min(this.queued[0] ?? this.nextSeq, this.oldestBeingWritten()) - 1;
    try {
      this.watermark.write(done);
    } catch (error) {
      throw storageError('remove a sent mail', error);
    }
    while (this.segments.length > 0 && this.segments[0].last <= done) {
      const segment = this.segments.shift()!;
      if (this.lastRead?.name === segment.name) this.lastRead = undefined;
      const file = path.join(this.dir, segment.name);
      // A failed delete is harmless: the watermark says it is finished, the next open deletes it.
      if (this.damaged.delete(segment.name)) await fs.rename(file, `${file}.bad`).catch(() => undefined);
      else await fs.unlink(file).catch(() => undefined);
    }
  }

  /**
   * A mail that cannot be read is set aside, so the ones behind it are not held up: its line is
   * kept as `<seq>.mail.bad`, or, when its segment cannot be read at all, the segment is renamed
   * to `….bad` once its mails are passed.
   */
  async setAside(seq: number): Promise<void> {
    const text = this.recent.get(seq) ?? this.lastRead?.lines.get(seq);
    if (text !== undefined) await fs.writeFile(path.join(this.dir, setAsideName(seq)), text, { mode: 0o600 }).catch(() => undefined);
    else {
      const segment = this.segmentOf(seq);
      if (segment) this.damaged.add(segment.name);
    }
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
    this.segments = [];
    this.lastRead = undefined;
    this.recent.clear();
    this.recentChars = 0;
    return count;
  }
}

function insertSorted<T>(list: T[], value: T, key: (item: T) => number): void {
  const k = key(value);
  // Appending is the usual case (groups commit in order).
  if (list.length === 0 || key(list[list.length - 1]) < k) {
    list.push(value);
    return;
  }
  let low = 0;
  let high = list.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (key(list[mid]) < k) low = mid + 1;
    else high = mid;
  }
  list.splice(low, 0, value);
}
