/**
 * The actions a node has accepted but the server has not confirmed yet, kept durably (one record
 * per node in the package's state folder, written atomically by src/state), so that a restart or
 * a crash does not lose them: on the next start the node applies what is left, once.
 *
 * Writes are coalesced and paced: however many actions arrive while a write is under way or
 * within `minIntervalMs` of the last one, the next write takes them all, so acknowledging a backlog
 * of thousands costs a few writes per second, not one per batch (each write is a whole-file atomic
 * replace with two fsyncs; the readers pace their checkpoints the same way).
 */
import type { CheckpointStore } from '../state';
import { isActionName } from './actions';
import type { ActionRequest } from './request';

/** One accepted request, as kept on disk until the server confirmed it. */
export interface StoredAction extends ActionRequest {
  id: number;
}

interface StoredRecord {
  nextId: number;
  actions: StoredAction[];
}

function isStoredAction(value: unknown): value is StoredAction {
  if (typeof value !== 'object' || value === null) return false;
  const a = value as Partial<StoredAction>;
  return typeof a.id === 'number' && typeof a.mailbox === 'string' && typeof a.folder === 'string' && isActionName(a.action)
    && Array.isArray(a.uids) && a.uids.every((uid) => Number.isSafeInteger(uid) && uid > 0);
}

/** Least time between two writes of one node's record. */
export const DEFAULT_MIN_WRITE_INTERVAL_MS = 250;

export class PendingActions {
  private readonly actions = new Map<number, StoredAction>();
  private nextId: number;
  private writing: Promise<void> | undefined;
  private nextWrite: Promise<void> | undefined;
  private lastWriteAt = 0;

  private constructor(private readonly store: CheckpointStore, private readonly key: string, record: StoredRecord, private readonly minIntervalMs: number) {
    for (const action of record.actions) this.actions.set(action.id, action);
    this.nextId = record.nextId;
  }

  /** Loads what `key` holds (nothing when there is no record or it is unreadable). */
  static async open(store: CheckpointStore, key: string, options: { minIntervalMs?: number } = {}): Promise<PendingActions> {
    const interval = options.minIntervalMs ?? DEFAULT_MIN_WRITE_INTERVAL_MS;
    const value = await store.get<unknown>(key);
    const record = value as Partial<StoredRecord> | undefined;
    if (record && typeof record.nextId === 'number' && Array.isArray(record.actions)) {
      const actions = record.actions.filter(isStoredAction);
      if (actions.length < record.actions.length) store.onWarning(`${record.actions.length - actions.length} stored action(s) of "${key}" were unreadable and skipped.`);
      return new PendingActions(store, key, { nextId: record.nextId, actions }, interval);
    }
    if (value !== undefined) store.onWarning(`Stored actions of "${key}" have an unexpected shape and were ignored.`);
    return new PendingActions(store, key, { nextId: 1, actions: [] }, interval);
  }

  /** What is waiting, oldest first. */
  list(): StoredAction[] {
    return [...this.actions.values()];
  }

  get size(): number {
    return this.actions.size;
  }

  /** Records an accepted request; resolves with its id once it is on disk. */
  async add(action: Omit<StoredAction, 'id'>): Promise<number> {
    const id = this.nextId++;
    this.actions.set(id, { id, ...action });
    await this.save();
    return id;
  }

  /** Forgets a settled request; written with the next save (awaiting it is optional). */
  remove(id: number): Promise<void> {
    if (!this.actions.delete(id)) return Promise.resolve();
    return this.save();
  }

  /**
   * Resolves once a write that started after this call is durable: joins the write that is queued
   * behind the current one, or queues one.
   */
  save(): Promise<void> {
    if (this.nextWrite) return this.nextWrite;
    const before = this.writing ?? Promise.resolve();
    const next = before.catch(() => undefined).then(() => this.paced()).then(() => {
      this.nextWrite = undefined;
      this.lastWriteAt = Date.now();
      const record: StoredRecord = { nextId: this.nextId, actions: this.list() };
      const write = this.actions.size === 0 ? this.store.delete(this.key) : this.store.set(this.key, record);
      this.writing = write;
      return write.finally(() => { if (this.writing === write) this.writing = undefined; });
    });
    this.nextWrite = next;
    return next;
  }

  // Waits until `minIntervalMs` have passed since the last write began (at once for the first).
  private paced(): Promise<void> {
    const wait = this.lastWriteAt + this.minIntervalMs - Date.now();
    return wait > 0 ? new Promise((resolve) => setTimeout(resolve, wait)) : Promise.resolve();
  }
}
