/**
 * One batch of a POP3 poll: hands mails over in message-number order with the pipeline kept full
 * (the RETR of the next mail is sent while the current one is handed over, its answer read to the
 * end or dropped so later commands get theirs) and, with `delete`, DELEs whose answers are
 * collected at the end of the batch. Records each outcome in the UIDL ledger.
 */
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { M365MailError, isM365MailError } from '../core/errors';
import type { Pop3Disposition } from '../engine/options';
import type { EngineReporter } from '../engine/reporter';
import { handOverError, type RetryBudget } from '../engine/shell';
import type { Pop3SessionClient } from './poll-session';
import type { UidlLedger } from './uidl-ledger';

/** What the poller knows about a mail when it hands it over. */
export interface Pop3MailMeta {
  /** Unique id, stable across sessions. */
  uidl: string;
  /** Message number in this session (changes between sessions). */
  msgno: number;
  /** Size in octets as the server listed it. */
  size: number;
  mailbox: string;
}

/** The raw RFC 822 source, streamed from RETR: read it to the end before resolving. */
export type Pop3MailSource = Buffer | Readable;

type DeliveryOutcome = 'delivered' | 'skipped' | 'retry-later';

/** What a delivery pass needs from its poller. */
export interface DeliveryContext {
  mailbox: string;
  disposition: Pop3Disposition;
  onMail(source: Pop3MailSource, meta: Pop3MailMeta): Promise<void>;
  report: Pick<EngineReporter<{ state: string }>, 'error'>;
  /** Failed hand-overs per UIDL. */
  budget: RetryBudget<string>;
  /** Paused or stopped: hand over nothing more. */
  halted(): boolean;
}

export class DeliveryPass {
  constructor(private readonly context: DeliveryContext) {}

  /**
   * Hands over `batch` in order. The RETR of the next mail is sent while the current one is handed
   * over; DELEs are not waited for one by one (their answers queue behind that RETR) but all
   * before the batch ends. Throws when the connection broke or a DELE failed for good.
   */
  async deliverBatch(client: Pop3SessionClient, sizes: Map<number, number> | undefined, ledger: UidlLedger, batch: Array<[number, string]>): Promise<{ delivered: number; retryLater: boolean }> {
    const deletions = new PendingDeletions();
    let delivered = 0;
    let retryLater = false;
    let next: Promise<Readable> | undefined = retrAhead(client, batch[0][0]);
    for (let i = 0; i < batch.length; i++) {
      const [msgno, uidl] = batch[i];
      const current = next as Promise<Readable>;
      next = undefined;
      deletions.throwIfFailed();
      if (this.context.halted()) {
        // Its RETR is already sent: read the answer, so the session can still QUIT cleanly.
        await discardAhead(current);
        break;
      }
      const source = await current;
      if (i + 1 < batch.length) next = retrAhead(client, batch[i + 1][0]);
      const outcome = await this.deliver(client, ledger, deletions, msgno, uidl, sizes?.get(msgno) ?? 0, source);
      if (outcome === 'retry-later') {
        retryLater = true;
        if (next) await discardAhead(next);
        break;
      }
      if (outcome === 'delivered') delivered++;
    }
    await deletions.settled();
    return { delivered, retryLater };
  }

  private async deliver(
    client: Pop3SessionClient, ledger: UidlLedger, deletions: PendingDeletions, msgno: number, uidl: string, size: number, source: Readable,
  ): Promise<DeliveryOutcome> {
    const meta: Pop3MailMeta = { uidl, msgno, size, mailbox: this.context.mailbox };
    try {
      await this.context.onMail(source, meta);
    } catch (error) {
      // Read what the callback left so the session can go on. If the connection broke, this
      // throws: the poll ends, and the failure is not held against the mail.
      await drain(source);
      if (this.context.halted()) return 'retry-later';
      return this.deliveryFailed(ledger, msgno, uidl, error);
    }
    ledger.markDelivered(uidl);
    this.context.budget.forget(uidl);
    await drain(source);
    if (this.context.disposition === 'delete') deletions.add(this.markForDeletion(client, msgno, uidl));
    return 'delivered';
  }

  private deliveryFailed(ledger: UidlLedger, msgno: number, uidl: string, error: unknown): DeliveryOutcome {
    const attempt = this.context.budget.fail(uidl);
    const mail = `POP3 mail ${uidl} (message ${msgno})`;
    this.context.report.error(handOverError(mail, attempt, this.context.budget.maxAttempts, 'will retry on the next poll', error), true);
    if (!attempt.giveUp) return 'retry-later';
    ledger.markSkipped(uidl);
    return 'skipped';
  }

  /**
   * DELE for mails handed over in an earlier session that ended before QUIT (the server kept
   * them). Skipped mails are never deleted: they were not handed over.
   */
  async deleteLeftovers(client: Pop3SessionClient, listing: Array<[number, string]>, ledger: UidlLedger): Promise<void> {
    const deletions = new PendingDeletions();
    for (const [msgno, uidl] of listing) {
      if (this.context.halted()) break;
      // Sent one after the other without waiting (pipelined when the server allows it).
      if (ledger.isDelivered(uidl)) deletions.add(this.markForDeletion(client, msgno, uidl));
    }
    await deletions.settled();
  }

  /**
   * DELE; a refusal is reported and retried next poll. A broken connection or a temporary server
   * problem (e.g. `-ERR [SYS/TEMP] Server shutting down`) ends the poll instead.
   */
  private async markForDeletion(client: Pop3SessionClient, msgno: number, uidl: string): Promise<void> {
    try {
      await client.dele(msgno);
    } catch (error) {
      if (client.closed || (isM365MailError(error) && error.retryable)) throw error;
      this.context.report.error(new M365MailError(
        `Could not delete POP3 mail ${uidl} (message ${msgno}); trying again on the next poll: ${error instanceof Error ? error.message : String(error)}`,
        { kind: 'disposition-failed', retryable: true, cause: error },
      ));
    }
  }
}

/**
 * Reads a RETR stream to its end (the session's next command waits for that). Throws when the
 * stream broke, i.e. the connection is gone.
 */
async function drain(source: Pop3MailSource): Promise<void> {
  if (Buffer.isBuffer(source) || source.readableEnded) return;
  if (source.destroyed) throw source.errored ?? connectionLost();
  source.resume();
  try {
    await finished(source);
  } catch (error) {
    throw isM365MailError(error) ? error : connectionLost(error);
  }
}

/** Sends RETR `msgno` now; its answer is awaited later (a failure then, never as "unhandled"). */
function retrAhead(client: Pop3SessionClient, msgno: number): Promise<Readable> {
  const answer = client.retr(msgno);
  answer.catch(() => undefined);
  return answer;
}

/**
 * Reads and drops the answer to a RETR sent ahead that will not be handed over now (the poll
 * ends early), so the commands after it (DELE, QUIT) get their answers. Never throws: a broken
 * connection shows at QUIT.
 */
async function discardAhead(answer: Promise<Readable>): Promise<void> {
  try {
    await drain(await answer);
  } catch {
    // The session is broken; QUIT will say so.
  }
}

/**
 * DELEs sent and not yet answered. Their answers queue behind the RETR sent ahead, so they are
 * awaited together at the end of a batch; a failure that ends the poll is kept and thrown at the
 * next mail or at the end.
 */
class PendingDeletions {
  private readonly pending: Array<Promise<void>> = [];
  private failure?: { error: unknown };

  add(deletion: Promise<void>): void {
    this.pending.push(deletion.catch((error: unknown) => {
      this.failure ??= { error };
    }));
  }

  throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }

  async settled(): Promise<void> {
    await Promise.all(this.pending);
    this.throwIfFailed();
  }
}

function connectionLost(cause?: unknown): M365MailError {
  return new M365MailError('POP3 connection closed while a mail was being handed over', { kind: 'network', retryable: true, cause });
}
