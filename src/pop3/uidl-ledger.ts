/**
 * What a POP3 poller has done with each mail, kept durably in one UidlSet: mails handed over
 * ("delivered") and mails given up on after repeated failures ("skipped"). Both are never emitted
 * again; only delivered ones may be deleted from the server.
 *
 * Skipped mails are stored as `skipped <uidl>`: a UIDL is printable ASCII without spaces
 * (RFC 1939), so the entry can never be mistaken for a real UIDL.
 */
import { M365MailError, isM365MailError } from '../core/errors';
import type { CheckpointStore } from '../state/checkpoint-store';
import { UidlSet } from '../state/uidl-set';

const SKIPPED_PREFIX = 'skipped ';
/** Listings in a row a mail must be missing from before its entry is forgotten. */
export const LISTINGS_BEFORE_FORGETTING = 3;

export class UidlLedger {
  /** Entries missing from the listings so far, and in how many in a row. */
  private readonly misses = new Map<string, number>();

  constructor(private readonly set: UidlSet) {}

  /** Loads the record stored under `key`. */
  static async open(store: CheckpointStore, key: string): Promise<UidlLedger> {
    try {
      return new UidlLedger(await UidlSet.open(store, key));
    } catch (error) {
      throw isM365MailError(error) ? error : new M365MailError('Could not read the list of POP3 mails already emitted', {
        kind: 'storage', retryable: true, cause: error, fix: 'Check that the Node-RED user directory is readable and writable.',
      });
    }
  }

  /** Whether the mail was delivered or skipped before (so it must not be emitted again). */
  isHandled(uidl: string): boolean {
    return this.set.has(uidl) || this.set.has(SKIPPED_PREFIX + uidl);
  }

  /** Whether the mail was handed over (so `delete` may remove it from the server). */
  isDelivered(uidl: string): boolean {
    return this.set.has(uidl);
  }

  markDelivered(uidl: string): void {
    this.set.add(uidl);
  }

  markSkipped(uidl: string): void {
    this.set.add(SKIPPED_PREFIX + uidl);
  }

  /**
   * Forgets mails that are provably gone, so the record stays as small as the mailbox: those
   * missing from LISTINGS_BEFORE_FORGETTING listings in a row. One listing is no proof: a server
   * may list short for a moment, and a mail forgotten then would be emitted again with `keep`.
   * The count is kept in memory; after a restart it starts over (an entry is only kept longer).
   * Returns how many entries were forgotten.
   */
  prune(listed: Iterable<string>): number {
    const present = new Set<string>();
    for (const uidl of listed) {
      present.add(uidl);
      present.add(SKIPPED_PREFIX + uidl);
    }
    const gone: string[] = [];
    for (const entry of this.set.values()) {
      if (present.has(entry)) {
        this.misses.delete(entry);
        continue;
      }
      const misses = (this.misses.get(entry) ?? 0) + 1;
      if (misses < LISTINGS_BEFORE_FORGETTING) {
        this.misses.set(entry, misses);
      } else {
        this.misses.delete(entry);
        gone.push(entry);
      }
    }
    return this.set.remove(gone);
  }

  /** Resolves once every change is on disk, with the error to report when saving failed (it is tried again next time). */
  async save(): Promise<M365MailError | undefined> {
    try {
      await this.set.flush();
      return undefined;
    } catch (error) {
      return isM365MailError(error) ? error : new M365MailError('Could not save the list of POP3 mails already emitted; after a restart some mail may be emitted again', {
        kind: 'storage', cause: error, fix: 'Check free disk space and permissions of the Node-RED user directory.',
      });
    }
  }

  close(): Promise<void> {
    return this.set.close();
  }
}
