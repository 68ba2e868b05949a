/**
 * Applies the disposition (read, flag, move, delete) to mails once they were handed over, and
 * retries those that failed at the start of later checks. The queue of failed ones is the
 * checkpoint keeper's, so it is stored with the checkpoint and survives a restart: the checkpoint
 * has moved past those mails, and without it their disposition would never be applied.
 */
import { M365MailError } from '../core/errors';
import type { Disposition } from '../engine/options';
import type { CheckpointKeeper } from './checkpoint-keeper';
import type { ImapClient } from './connection';
import { applyDisposition } from './dispositions';
import { dispositionError } from './errors';

export class DispositionQueue {
  constructor(
    private readonly disposition: Disposition,
    private readonly moveTo: string | undefined,
    private readonly keeper: CheckpointKeeper,
    private readonly reportError: (error: M365MailError) => void,
  ) {}

  /** Whether anything waits for a retry. */
  get waiting(): boolean {
    return this.disposition !== 'none' && this.keeper.pending.size > 0;
  }

  /** Marks, moves or deletes mails that were handed over; a failure is queued for a retry. */
  async apply(client: ImapClient, uids: readonly number[], uidValidity: number, isActive: () => boolean): Promise<void> {
    if (this.disposition === 'none') return;
    for (const uid of uids) {
      const failure = isActive()
        ? await applyDisposition(client, uid, this.disposition, this.moveTo)
        : dispositionError(`Could not apply the disposition of mail UID ${uid}: the connection closed`, { retryable: true });
      if (!failure) continue;
      if (isActive()) this.reportError(failure);
      if (failure.retryable) {
        const dropped = this.keeper.pending.add(uid, uidValidity);
        this.keeper.changed();
        if (dropped) this.reportError(new M365MailError(`Gave up the disposition of mail UID ${dropped.uid}: too many pending`, { kind: 'disposition-failed' }));
      }
    }
  }

  /** Retries the queued dispositions of this UIDVALIDITY (others are dropped: their UIDs mean nothing now). */
  async retry(client: ImapClient, uidValidity: number, isActive: () => boolean): Promise<void> {
    const pending = this.keeper.pending;
    for (const item of pending.due(uidValidity)) {
      if (!isActive()) break;
      const failure = await applyDisposition(client, item.uid, this.disposition, this.moveTo);
      if (!failure) {
        pending.done(item.uid);
      } else if (!failure.retryable || pending.failed(item.uid)) {
        pending.done(item.uid);
        this.reportError(new M365MailError(`Gave up after ${item.attempts} attempts: ${failure.message}`, { kind: 'disposition-failed', fix: failure.fix }));
      }
    }
    this.keeper.changed();
  }
}
