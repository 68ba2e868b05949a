/**
 * Hands over one window of mail: one UID FETCH of flags and source, each mail given to the
 * watcher's onMail in UID order while the server sends the next, the checkpoint moved past it,
 * large mails downloaded after the FETCH, then the window's dispositions. What a window is and
 * which one comes next is the pass's business (fetch-pass.ts).
 */
import { isM365MailError } from '../core/errors';
import type { EngineReporter } from '../engine/reporter';
import type { Criteria } from '../engine/options';
import { handOverError, type RetryBudget } from '../engine/shell';
import type { CheckpointKeeper } from './checkpoint-keeper';
import type { DispositionQueue } from './disposition-queue';
import type { WatchSession } from './session';
import type { StreamWindow } from './stream-window';
import type { MailMeta, MailSource, WatcherStatus, WatcherWarning } from './watcher-types';

type DeliveryOutcome = 'delivered' | 'skipped' | 'retry-later';

/** A mail of a FETCH on its way: complete, too large for the FETCH (downloaded later), or gone. */
interface WaitingMail {
  kind: 'mail' | 'large' | 'gone';
  uid: number;
  flags?: Set<string>;
  size?: number;
  source?: Buffer;
}

/** What a pass needs from its watcher. */
export interface FetchContext {
  mailbox: string;
  report: EngineReporter<WatcherStatus>;
  onMail(source: MailSource, meta: MailMeta): Promise<void>;
  onWarning(warning: WatcherWarning): void;
  /** The session is the watcher's current one, open, and the watcher neither paused nor stopped. */
  isActive(session: WatchSession): boolean;
}

/** The reader's options as a window's hand-over uses them (resolved by FetchPass). */
export interface DeliverySettings {
  folder: string;
  criteria: Criteria;
  batchSize: number;
  /** Mails up to this size come whole in the FETCH; larger ones are downloaded after it. */
  streamThreshold: number;
  downloadChunkBytes: number;
  /** Complete mails held behind a large one, at most (bytes). */
  holdAfterLargeBytes: number;
  /** Dispositions follow the window. */
  disposes: boolean;
  /** Most mails one FETCH hands over: a batch when its dispositions follow it, else no limit. */
  windowMails: number;
}

export interface WindowResult {
  delivered: number;
  /** The window ended early (its limit, or the mails held behind a large one): more to fetch. */
  more: boolean;
  /** A mail is to be retried later, or the session ended: the pass stops here. */
  stop: boolean;
}

export class WindowDelivery {
  constructor(
    private readonly settings: DeliverySettings,
    private readonly context: FetchContext,
    private readonly keeper: CheckpointKeeper,
    private readonly queue: DispositionQueue,
    /** Failed hand-overs per UID; in memory. */
    private readonly budget: RetryBudget<number>,
  ) {}

  /**
   * Hands over the mails of one UID FETCH of flags and source, in UID order, parsing each
   * while the server sends the next (as a plain imapflow loop does). The source is asked for up to
   * `streamThreshold` bytes; a mail that does not fit is downloaded in chunks once the FETCH is
   * over (no other command can run during it). From the first such mail on, the FETCH's answers
   * wait in order (complete mails up to `holdAfterLargeBytes`; beyond that the rest is left to
   * the next pass). Every `batchSize` mails the progress is reported, and the checkpoint moves on
   * with every mail (stored at most every 500 ms), without ending the FETCH. Dispositions are
   * applied at the end. With `expected` (an explicit window), a UID the server no longer has is passed.
   */
  async deliver(session: WatchSession, uidValidity: number, lastUid: number, window: StreamWindow): Promise<WindowResult> {
    const limit = this.settings.streamThreshold;
    const expected = window.expected;
    // No RFC822.SIZE: a complete mail's size is its length, a large one's comes with its download
    // (every FETCH item costs imapflow parse work per mail, about 1 % of a drain).
    const query = { uid: true, flags: true, source: { start: 0, maxLength: limit } };
    const delivered: number[] = [];
    const waiting: WaitingMail[] = [];
    let handedOver = 0;
    let heldBytes = 0;
    let more = false;
    let stop = false;
    let next = 0;
    const handOver = async (mail: WaitingMail, source: MailSource | undefined): Promise<boolean> => {
      const outcome = await this.handOver(session, mail.uid, uidValidity, mail.size ?? (Buffer.isBuffer(source) ? source.length : 0), mail.flags, source);
      if (outcome === 'delivered') {
        if (this.settings.disposes) delivered.push(mail.uid);
        if (handedOver++ % this.settings.batchSize === 0) {
          // Progress: a drop from now on is routine (no node error, backoff starts over), even in
          // the middle of a long first backlog.
          session.healthy = true;
          if (handedOver > 1) this.context.report.status({ state: 'fetching', newCount: window.count === undefined ? undefined : window.count - handedOver + 1 });
        }
      }
      if (outcome === 'retry-later' || !this.context.isActive(session)) stop = true;
      return !stop;
    };
    // In order: straight away while nothing waits, else behind what waits.
    const take = async (mail: WaitingMail): Promise<boolean> => {
      if (waiting.length || mail.kind === 'large') {
        waiting.push(mail);
        return true;
      }
      if (mail.kind === 'gone') {
        this.keeper.advanceTo(mail.uid);
        return true;
      }
      return handOver(mail, mail.source);
    };
    // UIDs of the batch the FETCH skipped were expunged meanwhile.
    const passMissing = async (beforeUid: number): Promise<void> => {
      while (expected && next < expected.length && expected[next] < beforeUid) await take({ kind: 'gone', uid: expected[next++] });
    };

    for await (const message of session.client.fetch(window.range, query, { uid: true })) {
      if (!this.context.isActive(session)) {
        stop = true;
        break;
      }
      // `n:*` also returns the highest mail when it is below n.
      if (message.uid <= lastUid) continue;
      await passMissing(message.uid);
      if (expected) {
        if (expected[next] !== message.uid) continue;
        next++;
      } else if (this.settings.criteria === 'unseen' && message.flags?.has('\\Seen')) {
        continue;
      }
      // An announced `n:*` is cut here too.
      if (handedOver + waiting.length >= this.settings.windowMails) {
        more = true;
        break;
      }
      const source = message.source;
      const mail: WaitingMail = source !== undefined && source.length < limit
        ? { kind: 'mail', uid: message.uid, flags: message.flags, size: source.length, source }
        : { kind: 'large', uid: message.uid, flags: message.flags };
      if (waiting.length && mail.source) {
        heldBytes += mail.source.length;
        if (heldBytes > this.settings.holdAfterLargeBytes) {
          more = true;
          break;
        }
      }
      if (!(await take(mail))) break;
    }
    if (!stop && !more && this.context.isActive(session)) await passMissing(Infinity);

    for (const mail of waiting) {
      if (stop || !this.context.isActive(session)) break;
      if (mail.kind === 'gone') {
        this.keeper.advanceTo(mail.uid);
      } else if (mail.kind === 'mail') {
        await handOver(mail, mail.source);
      } else {
        const download = await session.client.download(String(mail.uid), undefined, { uid: true, chunkSize: this.settings.downloadChunkBytes });
        await handOver({ ...mail, size: download.meta?.expectedSize }, 'content' in download && download.content ? download.content : undefined);
      }
    }
    stop = stop || !this.context.isActive(session);
    // Read to its end: every mail of the window's UID range was seen, also where UIDs are missing.
    if (!stop && !more && window.endUid !== undefined) this.keeper.advanceTo(window.endUid);
    if (delivered.length) await this.queue.apply(session.client, delivered, uidValidity, () => this.context.isActive(session));
    stop = stop || !this.context.isActive(session);
    return { delivered: handedOver, more: more && !stop, stop };
  }

  /**
   * Gives one mail to onMail and moves the checkpoint past it. A missing source (expunged between
   * SEARCH and FETCH) is passed over. A failing onMail is retried on later checks, then skipped.
   */
  private async handOver(session: WatchSession, uid: number, uidValidity: number, size: number, flags: Set<string> | undefined, source: MailSource | undefined): Promise<DeliveryOutcome> {
    if (!source) {
      this.keeper.advanceTo(uid);
      return 'skipped';
    }
    const meta: MailMeta = { uid, uidValidity, flags: [...(flags ?? [])], size, folder: this.settings.folder, mailbox: this.context.mailbox };
    try {
      await this.context.onMail(source, meta);
    } catch (err) {
      discard(source);
      if (!this.context.isActive(session)) return 'retry-later'; // the connection broke, not the mail
      const cause = isM365MailError(err) ? err : undefined;
      if (!session.client.usable || cause?.kind === 'network' || cause?.kind === 'timeout') {
        // The download broke off (a streamed mail whose connection dropped): not the mail's fault,
        // so no attempt is counted, or a large mail on a flaky line would end up skipped. Ending the
        // session makes the watcher reconnect and fetch it again.
        throw cause ?? err;
      }
      const attempt = this.budget.fail(uid);
      this.context.report.error(handOverError(`mail UID ${uid}`, attempt, this.budget.maxAttempts, 'will retry', err), true);
      if (!attempt.giveUp) return 'retry-later';
      this.keeper.advanceTo(uid);
      return 'skipped';
    }
    // A stream the callback left unread would hold the connection.
    discard(source);
    this.budget.forget(uid);
    this.keeper.advanceTo(uid);
    return 'delivered';
  }
}

/** Ends a source stream nobody will read further (a no-op for Buffers and finished streams). */
function discard(source: MailSource): void {
  if (Buffer.isBuffer(source)) return;
  if (!source.readableEnded && !source.destroyed) {
    source.on('error', () => undefined);
    source.destroy();
  }
}
