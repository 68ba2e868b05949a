/**
 * The outbox's group commit: the mails that arrive while one group is written are written
 * together next, as segment files (fsynced, at most WRITERS at once), then one folder fsync makes
 * them durable, then all are taken. A mail counts as being written from `write` until its group
 * settled; the outbox holds back any mail behind it, so mails leave in the order they came.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { nextTurnOfLoop, TaskLimiter } from '../core/tasks';
import { replaceFileUnsynced, syncDirectory } from '../state/atomic-file';
import { segmentName, type SegmentFile } from './outbox-files';
import { storageError } from './outbox-mail';

/** A mail's line, as it is in its segment. */
export interface MailLine {
  seq: number;
  text: string;
}

/** A mail waiting to be written with the next group. */
interface PendingWrite extends MailLine {
  resolve(): void;
  reject(error: unknown): void;
}

export interface GroupWriterOptions {
  /**
   * Whether more mails are on their way to `write` without waiting for a commit (msgs being
   * composed): the next group waits for them, up to GROUP_TARGET. Whoever says so calls `write` or
   * `flush` for each of them; default: none.
   */
  moreComing?: () => boolean;
  /** A segment is durable (before its mails' `write` calls resolve). */
  onDurable(segment: SegmentFile, lines: MailLine[]): void;
  /** A group is done and at least one of its segments is durable. */
  onAdded(): void;
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

export class GroupWriter {
  /** Sequence numbers being written: a later mail waits until these are on disk (order). */
  private readonly writing = new Set<number>();
  /** Mails for the next group commit, in sequence order. */
  private pending: PendingWrite[] = [];
  private committing = false;
  /** Wakes a group that waits for more mails (see GroupWriterOptions.moreComing). */
  private wakeGroup?: () => void;

  constructor(private readonly dir: string, private readonly options: GroupWriterOptions) {}

  /** Mails being written. */
  get size(): number {
    return this.writing.size;
  }

  /** The lowest sequence number still being written (Infinity when none is). */
  oldestBeingWritten(): number {
    let oldest = Infinity;
    for (const seq of this.writing) oldest = Math.min(oldest, seq);
    return oldest;
  }

  /** Writes a mail's line with the next group; resolves once it is durable. */
  write(seq: number, text: string): Promise<void> {
    this.writing.add(seq);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ seq, text, resolve, reject });
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
        this.options.onDurable(segment, writes);
        for (const write of writes) write.resolve();
        added = true;
      } else {
        // Not durable, so not taken: the file (if its rename happened) must not be sent later.
        if (result.status === 'fulfilled') await fs.rm(path.join(this.dir, segment.name), { force: true }).catch(() => undefined);
        for (const write of writes) write.reject(storageError('store the mail', error));
      }
    }
    if (added) this.options.onAdded();
  }
}
