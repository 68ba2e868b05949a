/**
 * Keeps the watcher's checkpoint in src/state (as the POP3 poller keeps its UIDL record): loads
 * it once, moves it on as mails are handed over, and stores it (with the dispositions still to be
 * applied) throttled while a backlog drains and always at the end of a check and on stop.
 */
import type { Clock } from '../core/clock';
import { M365MailError } from '../core/errors';
import type { CheckpointStore } from '../state/checkpoint-store';
import { loadImapCheckpoint, saveImapCheckpoint } from '../state/imap-checkpoint';
import { advanceCheckpoint, type Checkpoint } from './checkpoint-policy';
import { PendingDispositions } from './dispositions';

/** How often a draining backlog stores its checkpoint (a killed process re-emits at most this much). */
const SAVE_INTERVAL_MS = 500;

export class CheckpointKeeper {
  /** Dispositions that failed and wait for a retry; stored with the checkpoint. */
  readonly pending = new PendingDispositions();
  private checkpoint?: Checkpoint;
  private loading?: Promise<Checkpoint | undefined>;
  /** Bumped on every change; a save takes everything up to its version. */
  private version = 0;
  private startedVersion = 0;
  private lastSave = 0;
  /** The newest write; never rejects (failures are reported). */
  private saved: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: CheckpointStore,
    private readonly key: string,
    private readonly clock: Clock,
    private readonly reportError: (error: M365MailError) => void,
  ) {}

  get current(): Checkpoint | undefined {
    return this.checkpoint;
  }

  /** The stored checkpoint (read once; later calls give what is current), with its pending dispositions restored. */
  load(): Promise<Checkpoint | undefined> {
    this.loading ??= (async () => {
      let stored;
      try {
        stored = await loadImapCheckpoint(this.store, this.key);
      } catch (err) {
        this.loading = undefined;
        throw new M365MailError('Could not read the stored checkpoint', {
          kind: 'storage', fix: 'Check that the Node-RED user directory is readable and writable.', cause: err,
        });
      }
      if (!stored) return undefined;
      const uidValidity = Number(stored.uidValidity);
      this.checkpoint = { uidValidity, lastUid: stored.lastUid, savedAt: stored.savedAt };
      for (const item of stored.pending ?? []) this.pending.restore(item.uid, uidValidity, item.attempts);
      return this.checkpoint;
    })();
    return this.loading.then(() => this.checkpoint);
  }

  /** Takes a reconciled checkpoint (first start, UIDVALIDITY change) and stores it at once. */
  replace(checkpoint: Checkpoint): Promise<void> {
    this.checkpoint = checkpoint;
    this.version++;
    this.startSave();
    return this.saved;
  }

  /** Moves the checkpoint past `uid`; stored at most every SAVE_INTERVAL_MS while a backlog drains. */
  advanceTo(uid: number): void {
    if (!this.checkpoint) return;
    this.checkpoint = advanceCheckpoint(this.checkpoint, uid);
    this.changed();
  }

  /** Something stored with the checkpoint changed (the pending dispositions). */
  changed(): void {
    this.version++;
    if (this.clock.now() - this.lastSave >= SAVE_INTERVAL_MS) this.startSave();
  }

  /** Starts storing what changed since the last save; returns the newest write. */
  flush(): Promise<void> {
    if (this.version > this.startedVersion) this.startSave();
    return this.saved;
  }

  private startSave(): void {
    this.startedVersion = this.version;
    this.lastSave = this.clock.now();
    this.saved = this.save();
  }

  private async save(): Promise<void> {
    if (!this.checkpoint) return;
    // Wall time, not the clock: after a UIDVALIDITY change it is compared with the server's INTERNALDATE.
    this.checkpoint = { ...this.checkpoint, savedAt: Date.now() };
    const { uidValidity, lastUid, savedAt } = this.checkpoint;
    const pending = this.pending.entries(uidValidity).map(({ uid, attempts }) => ({ uid, attempts }));
    try {
      await saveImapCheckpoint(this.store, this.key, { uidValidity, lastUid, savedAt, pending });
    } catch (err) {
      this.reportError(new M365MailError('Could not store the checkpoint; after a restart some mail may be emitted again', {
        kind: 'storage', fix: 'Check free disk space and permissions of the Node-RED user directory.', cause: err,
      }));
    }
  }
}
