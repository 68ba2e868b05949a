/**
 * The outbox's segment files on disk and the reading of mails from them: which segment holds a
 * mail, its line from memory when it was just written (bounded) or else from its segment (read
 * whole and kept until the next, as the drain takes the mails one after the other), and deleting
 * the segments whose mails are all finished.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { linesBySeq, type SegmentFile } from './outbox-files';
import { storageError } from './outbox-mail';
import type { MailLine } from './outbox-writer';

/** Written mails kept in memory for the drain: at most this many, of at most this many chars in all. */
const RECENT_MAILS = 256;
const RECENT_CHARS = 16 * 1024 * 1024;

/**
 * The text of recently written mails, so the drain need not read back what it just wrote (a read
 * queues behind the fsyncs of the intake). Bounded: the rest is read from disk when its turn comes.
 */
class RecentLines {
  private readonly lines = new Map<number, string>();
  private chars = 0;

  remember(seq: number, text: string): void {
    if (this.lines.size >= RECENT_MAILS || this.chars + text.length > RECENT_CHARS) return;
    this.lines.set(seq, text);
    this.chars += text.length;
  }

  get(seq: number): string | undefined {
    return this.lines.get(seq);
  }

  /** Lets go of a mail's text, and returns it. */
  forget(seq: number): string | undefined {
    const text = this.lines.get(seq);
    if (text === undefined) return undefined;
    this.lines.delete(seq);
    this.chars -= text.length;
    return text;
  }

  clear(): void {
    this.lines.clear();
    this.chars = 0;
  }
}

export class OutboxSegments {
  /** Segment files on disk, oldest first. */
  private segments: SegmentFile[] = [];
  /** Segments that could not be read: renamed to `.bad` instead of deleted once passed. */
  private readonly damaged = new Set<string>();
  /** The lines of the segment read last (the drain takes its mails one after the other). */
  private lastRead?: { name: string; lines: Map<number, string> };
  private readonly recent = new RecentLines();

  constructor(private readonly dir: string) {}

  /** The segments found on disk when the outbox opens, oldest first. */
  found(segments: SegmentFile[]): void {
    this.segments = segments;
  }

  /** A segment just written and durable; its lines are kept in memory while there is room. */
  written(segment: SegmentFile, lines: MailLine[]): void {
    insertSorted(this.segments, segment, (s) => s.first);
    for (const line of lines) this.recent.remember(line.seq, line.text);
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
  async lineOf(seq: number): Promise<string> {
    const text = this.recent.forget(seq) ?? this.lastRead?.lines.get(seq);
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

  /** The mail's line when it is in memory (nothing is read). */
  lineInMemory(seq: number): string | undefined {
    return this.recent.get(seq) ?? this.lastRead?.lines.get(seq);
  }

  /** A finished mail's line is not needed any more. */
  forget(seq: number): void {
    this.recent.forget(seq);
  }

  /** The segment holding `seq` cannot be read: it is renamed to `….bad` once its mails are passed. */
  markDamaged(seq: number): void {
    const segment = this.segmentOf(seq);
    if (segment) this.damaged.add(segment.name);
  }

  /** Deletes the segments all of whose mails are at or below `done` (not fsynced: see Outbox.remove). */
  async deleteFinished(done: number): Promise<void> {
    while (this.segments.length > 0 && this.segments[0].last <= done) {
      const segment = this.segments.shift()!;
      if (this.lastRead?.name === segment.name) this.lastRead = undefined;
      const file = path.join(this.dir, segment.name);
      // A failed delete is harmless: the watermark says it is finished, the next open deletes it.
      if (this.damaged.delete(segment.name)) await fs.rename(file, `${file}.bad`).catch(() => undefined);
      else await fs.unlink(file).catch(() => undefined);
    }
  }

  /** Forgets every segment and line (the folder was removed). */
  clear(): void {
    this.segments = [];
    this.lastRead = undefined;
    this.recent.clear();
  }
}

/** Inserts `value` into `list`, which is sorted by `key`. */
export function insertSorted<T>(list: T[], value: T, key: (item: T) => number): void {
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
