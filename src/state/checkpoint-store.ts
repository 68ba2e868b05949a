import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { M365MailError, isM365MailError } from '../core/errors';
import { removeFileDurably, removeStaleTempFiles, writeFileAtomic } from './atomic-file';

/** Called for problems that are reported but not fatal (a corrupt record, a failed cleanup). */
export type WarningListener = (message: string, cause?: unknown) => void;

export interface CheckpointStoreOptions {
  onWarning?: WarningListener;
}

/** On-disk envelope; `key` is kept so a file can be traced back to its node and folder. */
interface StoredRecord {
  version: 1;
  key: string;
  savedAt: string;
  value: unknown;
}

/**
 * Durable JSON records in one folder (the node passes `<userDir>/m365-mail/`), one file per key.
 * File names are a SHA-256 of the key, so any key (node id, mailbox address, folder path) is
 * safe on every file system. Writes are atomic (temp file, fsync, rename, fsync folder), writes
 * to one key are serialised and coalesced (the last `set` wins), and a corrupt file is reported
 * through `onWarning` and read as "no record" instead of failing the node.
 */
export class CheckpointStore {
  readonly dir: string;
  /** Where non-fatal problems go; typed helpers on top of the store report through it too. */
  readonly onWarning: WarningListener;
  private ready: Promise<void> | undefined;

  constructor(dir: string, options: CheckpointStoreOptions = {}) {
    this.dir = path.resolve(dir);
    this.onWarning = options.onWarning ?? (() => undefined);
  }

  /** The record for `key`, or undefined when there is none or it is unreadable. */
  async get<T>(key: string): Promise<T | undefined> {
    await this.prepare();
    const file = this.fileFor(key);
    await writers.get(file)?.idle();
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw storageError(`Cannot read checkpoint ${file}`, error);
    }
    const record = parseRecord(text);
    if (!record) {
      this.onWarning(`Checkpoint file ${path.basename(file)} for "${key}" is corrupt and was ignored; it is rewritten on the next save.`);
      return undefined;
    }
    if (record.key !== key) {
      this.onWarning(`Checkpoint file ${path.basename(file)} belongs to another key and was ignored.`);
      return undefined;
    }
    return record.value as T;
  }

  /**
   * Stores `value` (anything JSON can hold) for `key` durably. Resolves once it is on disk; when
   * several `set` calls overlap, the value of the last call is what ends up stored.
   */
  async set<T>(key: string, value: T): Promise<void> {
    const record: StoredRecord = { version: 1, key, savedAt: new Date().toISOString(), value };
    // Queued synchronously, so the order of calls is the order of writes.
    await this.enqueue(key, JSON.stringify(record), 'save');
  }

  /** Removes the record for `key` (after any pending `set` of it). */
  async delete(key: string): Promise<void> {
    await this.enqueue(key, null, 'delete');
  }

  /** The file that holds `key`'s record. */
  fileFor(key: string): string {
    return path.join(this.dir, `${createHash('sha256').update(key, 'utf8').digest('hex')}.json`);
  }

  private async enqueue(key: string, content: string | null, action: string): Promise<void> {
    const file = this.fileFor(key);
    try {
      await writerFor(file).write(content, () => this.prepare());
    } catch (error) {
      throw isM365MailError(error) ? error : storageError(`Cannot ${action} checkpoint ${file}`, error);
    }
  }

  // Creates the folder once and clears temp files of writes a crash interrupted.
  private prepare(): Promise<void> {
    this.ready ??= (async () => {
      try {
        await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
      } catch (error) {
        this.ready = undefined; // let a later call retry, e.g. after the user fixed permissions
        throw storageError(`Cannot create checkpoint folder ${this.dir}`, error);
      }
      try {
        const removed = await removeStaleTempFiles(this.dir);
        if (removed.length > 0) this.onWarning(`Removed ${removed.length} unfinished checkpoint write(s) left by an earlier crash.`);
      } catch (error) {
        this.onWarning(`Could not clean up temporary checkpoint files in ${this.dir}`, error);
      }
    })();
    return this.ready;
  }
}

function parseRecord(text: string): StoredRecord | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const record = parsed as Partial<StoredRecord>;
    if (record.version !== 1 || typeof record.key !== 'string' || !('value' in record)) return undefined;
    return record as StoredRecord;
  } catch {
    return undefined;
  }
}

function storageError(message: string, cause: unknown): M365MailError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new M365MailError(`${message} (${code ?? 'error'})`, {
    kind: 'storage',
    code,
    cause,
    fix: 'Make sure the Node-RED user directory is writable and the disk is not full; the node re-sends nothing it already stored.',
  });
}

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Serialises writes to one file and coalesces them: while a write runs, later requests replace
 * each other and only the newest is written next; every caller resolves once a write that
 * includes its request (or a newer one) is durable. `null` content means delete.
 */
class FileWriter {
  private running: Promise<void> | undefined;
  private next: { content: string | null; prepare: () => Promise<void>; waiters: Waiter[] } | undefined;

  constructor(
    private readonly file: string,
    private readonly onIdle: () => void,
  ) {}

  /** `prepare` runs before the write (creating the folder); a newer request replaces both. */
  write(content: string | null, prepare: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.next) Object.assign(this.next, { content, prepare });
      else this.next = { content, prepare, waiters: [] };
      this.next.waiters.push({ resolve, reject });
      this.running ??= this.drain();
    });
  }

  /** Resolves when no write is pending (reads then see the latest value). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    while (this.next) {
      const job = this.next;
      this.next = undefined;
      try {
        await job.prepare();
        if (job.content === null) await removeFileDurably(this.file);
        else await writeFileAtomic(this.file, job.content);
        job.waiters.forEach((waiter) => waiter.resolve());
      } catch (error) {
        job.waiters.forEach((waiter) => waiter.reject(error));
      }
    }
    this.running = undefined;
    this.onIdle();
  }
}

// One writer per file for the whole process, so two store instances on the same folder (an IMAP
// and a POP3 node, or a node restarted on redeploy) still serialise their writes.
const writers = new Map<string, FileWriter>();

function writerFor(file: string): FileWriter {
  let writer = writers.get(file);
  if (!writer) {
    writer = new FileWriter(file, () => {
      if (writers.get(file) === writer) writers.delete(file);
    });
    writers.set(file, writer);
  }
  return writer;
}
