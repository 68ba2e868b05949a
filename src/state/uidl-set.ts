import type { CheckpointStore } from './checkpoint-store';

export interface UidlSetOptions {
  /** Changes within this many milliseconds are saved together. Default 1000. */
  debounceMs?: number;
}

interface StoredUidls {
  uidls: string[];
}

/**
 * The POP3 UIDLs already emitted for one mailbox, kept durably in a {@link CheckpointStore}.
 * Lookups and changes are in memory (a Set, so 20,000 entries cost nothing); saving is debounced
 * so a batch of mails is one write, and {@link flush} waits until everything changed is on disk.
 * Call {@link close} when the node closes.
 */
export class UidlSet {
  private readonly uidls: Set<string>;
  private readonly debounceMs: number;
  private timer: NodeJS.Timeout | undefined;
  /** Bumped on every change; `savedVersion` says which change is durable. */
  private version = 0;
  private savedVersion = 0;
  /** The save under way, if any. */
  private saving: Promise<void> | undefined;

  private constructor(
    private readonly store: CheckpointStore,
    private readonly key: string,
    initial: Iterable<string>,
    options: UidlSetOptions,
  ) {
    this.uidls = new Set(initial);
    this.debounceMs = options.debounceMs ?? 1000;
  }

  /** Loads the set stored for `key` (empty when there is none or it is unreadable). */
  static async open(store: CheckpointStore, key: string, options: UidlSetOptions = {}): Promise<UidlSet> {
    const stored = await store.get<unknown>(key);
    let initial: string[] = [];
    if (isStoredUidls(stored)) initial = stored.uidls;
    else if (stored !== undefined) store.onWarning(`UIDL list for "${key}" has an unexpected shape and was ignored.`);
    return new UidlSet(store, key, initial, options);
  }

  get size(): number {
    return this.uidls.size;
  }

  has(uidl: string): boolean {
    return this.uidls.has(uidl);
  }

  /** Remembers an emitted UIDL; saved with the next (debounced) write. */
  add(uidl: string): void {
    if (this.uidls.has(uidl)) return;
    this.uidls.add(uidl);
    this.changed();
  }

  /**
   * Forgets every UIDL the server no longer lists (deleted mail), so the set stays as small as
   * the mailbox. Returns how many were removed.
   */
  prune(currentUidls: Iterable<string>): number {
    const current = currentUidls instanceof Set ? (currentUidls as Set<string>) : new Set(currentUidls);
    let removed = 0;
    for (const uidl of this.uidls) {
      if (!current.has(uidl)) {
        this.uidls.delete(uidl);
        removed++;
      }
    }
    if (removed > 0) this.changed();
    return removed;
  }

  /** Forgets the given UIDLs; returns how many were there. */
  remove(uidls: Iterable<string>): number {
    let removed = 0;
    for (const uidl of uidls) if (this.uidls.delete(uidl)) removed++;
    if (removed > 0) this.changed();
    return removed;
  }

  values(): IterableIterator<string> {
    return this.uidls.values();
  }

  /**
   * Resolves once every change made before the call is durable; rejects when saving fails. Calls
   * that overlap share the save under way and add at most one more (with everything changed
   * meanwhile), so a caller may flush after every batch without piling up writes.
   */
  async flush(): Promise<void> {
    this.clearTimer();
    while (this.savedVersion < this.version) {
      if (this.saving) {
        // Its failure belongs to its caller; here the loop sees whether our changes are durable.
        await this.saving.catch(() => undefined);
        continue;
      }
      const version = this.version;
      const value: StoredUidls = { uidls: [...this.uidls] };
      const saving = this.store.set(this.key, value).then(() => {
        this.savedVersion = Math.max(this.savedVersion, version);
      });
      this.saving = saving;
      try {
        await saving;
      } finally {
        if (this.saving === saving) this.saving = undefined;
      }
    }
  }

  /** Saves pending changes and stops the debounce timer. */
  async close(): Promise<void> {
    await this.flush();
  }

  private changed(): void {
    this.version++;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().catch((error: unknown) => {
        // Stays dirty: the next change or flush() tries again and reports to its caller.
        this.store.onWarning(`Saving the UIDL list for "${this.key}" failed; retrying on the next change.`, error);
      });
    }, this.debounceMs);
    // A pending save must not keep the process alive; close() flushes it.
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function isStoredUidls(value: unknown): value is StoredUidls {
  if (typeof value !== 'object' || value === null) return false;
  const uidls = (value as Partial<StoredUidls>).uidls;
  return Array.isArray(uidls) && uidls.every((uidl) => typeof uidl === 'string');
}
