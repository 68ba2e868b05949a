/**
 * The durable outbox of one m365-mail-out node: one file per mail in its own folder under the
 * Node-RED user directory, written (fsync, rename, folder fsync) before the node takes the msg and
 * removed only after the server's 250. Writes are committed in groups: the msgs that arrive while
 * one group is written are written together next (their files fsynced in parallel on libuv's
 * thread pool), then one folder fsync makes all their renames durable, then all are taken. A restart finds every mail that was not confirmed, in the
 * order the node took them. Only the sequence numbers are held in memory (a few bytes per mail);
 * a mail's content is read when it is its turn, so 10,000 waiting mails cost little memory.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { M365MailError } from '../core/errors';
import { removeStaleTempFiles, replaceFileUnsynced, syncDirectory } from '../state/atomic-file';
import type { SmtpEnvelope } from './compile';
import { decodeMsg, encodeMsg } from './msg-codec';

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

/** A mail waiting to be written with the next group. */
interface PendingWrite {
  seq: number;
  text: string;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Files of a group written at once. libuv's thread pool has 4 threads and serves its queue in
 * order: writing more at once would queue the drain's reads and removals behind the fsyncs.
 */
const WRITERS = 2;

/** Written mails kept in memory for the drain: at most this many, of at most this many chars in all. */
const RECENT_MAILS = 256;
const RECENT_CHARS = 16 * 1024 * 1024;

const SUFFIX = '.mail';
const FORMAT = 1;

function fileName(seq: number): string {
  return `${String(seq).padStart(12, '0')}${SUFFIX}`;
}

function storageError(action: string, error: unknown): M365MailError {
  const code = (error as NodeJS.ErrnoException).code ?? 'error';
  return new M365MailError(`The outbox could not ${action} (${code}).`, {
    kind: 'storage', retryable: false, cause: error,
    fix: 'Check that the Node-RED user directory can be written and has free space.',
  });
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
  /**
   * The text of recently written mails, so the drain need not read back what it just wrote (a read
   * queues behind the fsyncs of the intake). Bounded: the rest is read from disk when its turn comes.
   */
  private readonly recent = new Map<number, string>();
  private recentChars = 0;

  constructor(readonly dir: string) {}

  /** Creates the folder, drops interrupted writes and lists what is waiting. */
  async open(): Promise<void> {
    try {
      await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
      await removeStaleTempFiles(this.dir);
      const seqs = (await fs.readdir(this.dir))
        .filter((name) => name.endsWith(SUFFIX))
        .map((name) => Number(name.slice(0, -SUFFIX.length)))
        .filter((seq) => Number.isSafeInteger(seq) && seq > 0)
        .sort((a, b) => a - b);
      this.queued.splice(0, this.queued.length, ...seqs);
      this.nextSeq = (seqs[seqs.length - 1] ?? 0) + 1;
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
   * Writes a mail to disk; resolves once it is durable (file and folder fsynced). Its sequence
   * number, and so its place in the order, is fixed by this call.
   */
  add(mail: NewOutboxMail, now = Date.now()): Promise<OutboxMail> {
    const seq = this.nextSeq++;
    const entry: OutboxMail = { ...mail, seq, enqueuedAt: now };
    const text = `{"v":${FORMAT},"seq":${seq},"enqueuedAt":${now},"mailbox":${JSON.stringify(mail.mailbox)},`
      + `"messageId":${JSON.stringify(mail.messageId)},"envelope":${JSON.stringify(mail.envelope)},`
      + `"raw":${JSON.stringify(mail.raw.toString('latin1'))},"msg":${encodeMsg(mail.msg)}}`;
    this.writing.add(seq);
    return new Promise<OutboxMail>((resolve, reject) => {
      this.pending.push({ seq, text, resolve: () => resolve(entry), reject });
      if (!this.committing) void this.commitGroups();
    });
  }

  /** Writes the pending mails group by group until none are left. */
  private async commitGroups(): Promise<void> {
    this.committing = true;
    try {
      while (this.pending.length > 0) {
        // One turn of the event loop first: the msgs whose intake the last group freed join this one.
        await new Promise((resolve) => setImmediate(resolve));
        await this.commit(this.pending.splice(0));
      }
    } finally {
      this.committing = false;
    }
  }

  /** One group: every file written and fsynced, then one folder fsync, then all taken. */
  private async commit(group: PendingWrite[]): Promise<void> {
    const written = await settleAtMost(WRITERS, group.map((write) => () => replaceFileUnsynced(path.join(this.dir, fileName(write.seq)), write.text)));
    let folderError: unknown;
    if (written.some((result) => result.status === 'fulfilled')) {
      try {
        await syncDirectory(this.dir);
      } catch (error) {
        folderError = error;
      }
    }
    let added = false;
    for (const [index, write] of group.entries()) {
      this.writing.delete(write.seq);
      const result = written[index];
      const error = result.status === 'rejected' ? result.reason : folderError;
      if (error === undefined) {
        insertSorted(this.queued, write.seq);
        this.remember(write.seq, write.text);
        added = true;
        write.resolve();
      } else {
        // Not durable, so not taken: the file (if its rename happened) must not be sent later.
        if (result.status === 'fulfilled') await fs.rm(path.join(this.dir, fileName(write.seq)), { force: true }).catch(() => undefined);
        write.reject(storageError('store the mail', error));
      }
    }
    if (added) for (const listener of this.listeners) listener();
  }

  /** The oldest mail's sequence number, unless an older one is still being written. */
  peek(): number | undefined {
    const first = this.queued[0];
    if (first === undefined) return undefined;
    for (const seq of this.writing) if (seq < first) return undefined;
    return first;
  }

  /** The mail after `seq` in order, when it is on disk and nothing older is still being written. */
  peekAfter(seq: number): number | undefined {
    const index = this.queued.indexOf(seq);
    const next = index === -1 ? undefined : this.queued[index + 1];
    if (next === undefined) return undefined;
    for (const writing of this.writing) if (writing < next) return undefined;
    return next;
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

  /** Reads one mail (the same text that is on disk). */
  async load(seq: number): Promise<OutboxMail> {
    let text = this.forget(seq);
    try {
      text ??= await fs.readFile(path.join(this.dir, fileName(seq)), 'utf8');
    } catch (error) {
      throw storageError('read a mail', error);
    }
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
   * Removes a mail that the server accepted or refused for good. The removal is not fsynced: a
   * process crash or kill keeps it (the kernel has it), and only a power cut right after it can
   * bring a sent mail back, to be sent again with the same Message-ID. Mails enter durably.
   */
  async remove(seq: number): Promise<void> {
    this.forget(seq);
    try {
      // One unlink (fs.rm stats first: two trips through the thread pool per mail).
      await fs.unlink(path.join(this.dir, fileName(seq)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw storageError('remove a sent mail', error);
    }
    const at = this.queued.indexOf(seq);
    if (at !== -1) this.queued.splice(at, 1);
  }

  /** A mail that cannot be read is moved aside (`.bad`), so the ones behind it are not held up. */
  async setAside(seq: number): Promise<void> {
    this.forget(seq);
    const from = path.join(this.dir, fileName(seq));
    await fs.rename(from, `${from}.bad`).catch(() => fs.rm(from, { force: true }));
    const index = this.queued.indexOf(seq);
    if (index !== -1) this.queued.splice(index, 1);
  }

  /** Removes the folder with every mail in it (the node was deleted). */
  async destroy(): Promise<number> {
    const count = this.size;
    await fs.rm(this.dir, { recursive: true, force: true });
    this.queued.length = 0;
    this.recent.clear();
    this.recentChars = 0;
    return count;
  }
}

/** Runs the tasks, at most `limit` at a time, and settles each. */
async function settleAtMost<T>(limit: number, tasks: Array<() => Promise<T>>): Promise<Array<PromiseSettledResult<T>>> {
  const results: Array<PromiseSettledResult<T>> = new Array(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const index = next++;
      try {
        results[index] = { status: 'fulfilled', value: await tasks[index]() };
      } catch (reason) {
        results[index] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

function insertSorted(list: number[], value: number): void {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (list[mid] < value) low = mid + 1;
    else high = mid;
  }
  list.splice(low, 0, value);
}
