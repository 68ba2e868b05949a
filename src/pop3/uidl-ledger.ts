/**
 * What a POP3 poller has done with each mail, kept durably in one UidlSet: mails handed over
 * ("delivered") and mails given up on after repeated failures ("skipped"). Both are never emitted
 * again; only delivered ones may be deleted from the server.
 *
 * Skipped mails are stored as `skipped <uidl>`: a UIDL is printable ASCII without spaces
 * (RFC 1939), so the entry can never be mistaken for a real UIDL.
 */
import type { UidlSet } from '../state/uidl-set';

const SKIPPED_PREFIX = 'skipped ';

export class UidlLedger {
  constructor(private readonly set: UidlSet) {}

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

  /** Forgets mails the server no longer lists, so the record stays as small as the mailbox. */
  prune(listed: Iterable<string>): number {
    const keep = new Set<string>();
    for (const uidl of listed) {
      keep.add(uidl);
      keep.add(SKIPPED_PREFIX + uidl);
    }
    return this.set.prune(keep);
  }

  /** Resolves once every change is on disk; rejects when saving fails. */
  flush(): Promise<void> {
    return this.set.flush();
  }

  close(): Promise<void> {
    return this.set.close();
  }
}
