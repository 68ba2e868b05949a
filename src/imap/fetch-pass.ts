/**
 * One pass of the watcher over the selected folder: reconcile the checkpoint (recovering mail after
 * a UIDVALIDITY change), retry waiting dispositions, and hand over the next window of mail: mail
 * the server just announced by `UID FETCH last+1:*`, else the next window of the backlog (see
 * stream-window.ts), each from one UID FETCH with a streaming parse, holding complete mails
 * behind a large one that is downloaded after the FETCH. Then the dispositions of what was handed
 * over. `batchSize` is the unit of status and progress inside a window, not of waiting for the
 * server.
 */
import type { MailboxObject, SearchObject } from 'imapflow';
import { M365MailError, isM365MailError } from '../core/errors';
import type { EngineReporter } from '../engine/reporter';
import { ENGINE_DEFAULTS, type Criteria } from '../engine/options';
import { handOverError, type RetryBudget } from '../engine/shell';
import {
  buildRecoveryQuery, buildSearchQuery, compactUidSet, qualifyingUids, reconcileCheckpoint, selectRecovered, type Checkpoint,
} from './checkpoint-policy';
import type { CheckpointKeeper } from './checkpoint-keeper';
import type { ImapClient } from './connection';
import type { DispositionQueue } from './disposition-queue';
import type { WatchSession } from './session';
import { nextWindow, type BacklogPlan, type StreamWindow } from './stream-window';
import type { MailboxWatcherOptions, MailMeta, MailSource, WatcherStatus, WatcherWarning } from './watcher-types';

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

/** Up to this many newly announced mails are fetched straight away, without SEARCH. */
const ANNOUNCED_FETCH_MAX = 20;
/**
 * Mails up to this size come whole in the streamed FETCH; larger ones are downloaded in chunks
 * after it. Downloading costs round trips (the FETCH ends, one per chunk, a new FETCH), which at
 * 200 ms add up to a second per mail, while a mail taken whole costs about twice its size in
 * memory for a moment; 4 MiB keeps everyday attachments in the stream and very large mails out of
 * memory.
 */
export const DEFAULT_STREAM_THRESHOLD_BYTES = 4 * 1024 * 1024;
/** Longest UID set one FETCH carries (Dovecot refuses long lines; node-red-node-email hit it at 20,000 UIDs). */
const MAX_UID_SET_LENGTH = 8_000;

export class FetchPass {
  private readonly folder: string;
  private readonly criteria: Criteria;
  private readonly customCriteria?: SearchObject;
  private readonly batchSize: number;
  private readonly streamThreshold: number;
  private readonly downloadChunkBytes: number;
  private readonly holdAfterLargeBytes: number;
  /** After a UIDVALIDITY change: mail that arrived since the old checkpoint, handed over before anything else. */
  private recovery?: { uids: number[]; endUid: number };
  /** The backlog being handed over window by window (searched once). */
  private backlog?: BacklogPlan;
  /** Dispositions need commands of their own between windows. */
  private readonly disposes: boolean;
  /** Most mails one FETCH hands over: a batch when its dispositions follow it, else no limit. */
  private readonly windowMails: number;

  constructor(
    options: MailboxWatcherOptions,
    private readonly context: FetchContext,
    private readonly keeper: CheckpointKeeper,
    private readonly queue: DispositionQueue,
    /** Failed hand-overs per UID; in memory. */
    private readonly budget: RetryBudget<number>,
  ) {
    this.folder = options.folder || 'INBOX';
    this.criteria = options.criteria ?? ENGINE_DEFAULTS.imap.criteria;
    this.customCriteria = options.customCriteria;
    this.batchSize = Math.max(1, Math.floor(options.batchSize ?? ENGINE_DEFAULTS.batchSize));
    this.streamThreshold = options.streamThresholdBytes ?? DEFAULT_STREAM_THRESHOLD_BYTES;
    this.downloadChunkBytes = options.downloadChunkBytes ?? 512 * 1024;
    this.holdAfterLargeBytes = options.holdAfterLargeBytes ?? 16 * 1024 * 1024;
    this.disposes = (options.disposition ?? ENGINE_DEFAULTS.imap.disposition) !== 'none';
    this.windowMails = this.disposes ? this.batchSize : Infinity;
  }

  async checkOnce(session: WatchSession): Promise<{ delivered: number; more: boolean }> {
    const client = session.client;
    const mailbox = client.mailbox;
    if (!mailbox) throw Object.assign(new Error(`Folder "${this.folder}" is no longer selected`), { code: 'NoMailboxSelected' });
    const uidValidity = Number(mailbox.uidValidity);
    const checkpoint = await this.currentCheckpoint(client, mailbox);
    if (!this.context.isActive(session)) return { delivered: 0, more: false };

    if (this.queue.waiting) await this.queue.retry(session.client, uidValidity, () => this.context.isActive(session));

    // Mail the server announced since the last pass (EXISTS): a few new mails in steady state are
    // fetched at once by `UID FETCH lastUid+1:*`, without a SEARCH (push latency).
    const existsBefore = session.existsSeen;
    session.existsSeen = mailbox.exists;
    const announced = existsBefore === undefined ? 0 : mailbox.exists - existsBefore;
    // Right after SELECT its UIDNEXT is exact: nothing above the checkpoint needs no SEARCH.
    if (existsBefore === undefined && !this.recovery && mailbox.uidNext > 0 && mailbox.uidNext - 1 <= checkpoint.lastUid) {
      return { delivered: 0, more: false };
    }
    if (announced > 0 && announced <= ANNOUNCED_FETCH_MAX && !this.recovery && !this.backlog && this.criteria !== 'custom') {
      const window: StreamWindow = { range: `${checkpoint.lastUid + 1}:*`, last: true };
      const result = await this.deliverFetched(session, uidValidity, checkpoint.lastUid, window);
      return { delivered: result.delivered, more: result.more };
    }

    const window = await this.nextWindow(client, uidValidity, checkpoint.lastUid, existsBefore === undefined ? mailbox.uidNext - 1 : undefined);
    if (!window) return { delivered: 0, more: this.finishRecovery() };
    this.context.report.status({ state: 'fetching', newCount: window.count });
    const result = await this.deliverFetched(session, uidValidity, checkpoint.lastUid, window);
    if (result.stop) return { delivered: result.delivered, more: false };
    const recovered = window.last && !result.more && this.finishRecovery();
    return { delivered: result.delivered, more: !window.last || result.more || recovered };
  }

  /** The most mails a window holds after its first large one, so what waits behind it stays within holdAfterLargeBytes. */
  private get afterLarge(): number {
    return Math.floor(this.holdAfterLargeBytes / this.streamThreshold);
  }

  /**
   * The next window of the backlog. A backlog is searched once and then handed over window by
   * window; mail that arrives meanwhile is found by the next search. Recovery after a UIDVALIDITY
   * change has its own list.
   */
  private async nextWindow(client: ImapClient, uidValidity: number, lastUid: number, selectedEndUid?: number): Promise<StreamWindow | undefined> {
    const limits = { maxMails: this.windowMails, afterLarge: this.afterLarge, maxSetLength: MAX_UID_SET_LENGTH };
    if (this.recovery) return nextWindow({ uidValidity, uids: this.recovery.uids, large: [] }, lastUid, { ...limits, maxMails: this.batchSize });
    let plan = this.backlog;
    if (!plan || plan.uidValidity !== uidValidity || (plan.uids ? plan.uids[plan.uids.length - 1] : plan.throughUid) <= lastUid) {
      plan = await this.planBacklog(client, uidValidity, lastUid, selectedEndUid);
    }
    const window = nextWindow(plan, lastUid, limits);
    this.backlog = window && !window.last ? plan : undefined;
    return window;
  }

  /**
   * Searches the backlog after `lastUid` (searching and sorting the rest once per batch cost more
   * than the FETCH of a 20,000-mail drain), and, when it holds more mails than may wait behind a
   * large one, which of them are too large for the stream (`LARGER`, usually none): a window ends
   * soon after such a mail, so the mails held behind it stay bounded and no FETCH is cut short.
   * Right after SELECT (`selectedEndUid`, from its UIDNEXT), with criteria all/new and no
   * dispositions, every mail up to there qualifies: the backlog is that UID range, no SEARCH of it.
   */
  private async planBacklog(client: ImapClient, uidValidity: number, lastUid: number, selectedEndUid?: number): Promise<BacklogPlan> {
    const query = buildSearchQuery(this.criteria, lastUid, this.customCriteria);
    // LARGER n is "more than n octets"; a custom `larger` must hold as well.
    const larger = Math.max(this.streamThreshold - 1, Number(query.larger ?? 0));
    const searchLarge = async (): Promise<number[]> => qualifyingUids(await this.searchUids(client, { ...query, larger }), lastUid);
    const everyMailQualifies = (this.criteria === 'all' || this.criteria === 'new') && !this.disposes;
    if (everyMailQualifies && selectedEndUid !== undefined && selectedEndUid > lastUid) {
      return { uidValidity, throughUid: selectedEndUid, large: selectedEndUid - lastUid <= this.afterLarge ? [] : await searchLarge() };
    }
    const uids = qualifyingUids(await this.searchUids(client, query), lastUid);
    return { uidValidity, uids, large: uids.length <= this.afterLarge ? [] : await searchLarge() };
  }

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
  private async deliverFetched(session: WatchSession, uidValidity: number, lastUid: number, window: StreamWindow): Promise<{ delivered: number; more: boolean; stop: boolean }> {
    const limit = this.streamThreshold;
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
        if (this.disposes) delivered.push(mail.uid);
        if (handedOver++ % this.batchSize === 0) {
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
      } else if (this.criteria === 'unseen' && message.flags?.has('\\Seen')) {
        continue;
      }
      // An announced `n:*` is cut here too.
      if (handedOver + waiting.length >= this.windowMails) {
        more = true;
        break;
      }
      const source = message.source;
      const mail: WaitingMail = source !== undefined && source.length < limit
        ? { kind: 'mail', uid: message.uid, flags: message.flags, size: source.length, source }
        : { kind: 'large', uid: message.uid, flags: message.flags };
      if (waiting.length && mail.source) {
        heldBytes += mail.source.length;
        if (heldBytes > this.holdAfterLargeBytes) {
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
        const download = await session.client.download(String(mail.uid), undefined, { uid: true, chunkSize: this.downloadChunkBytes });
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

  /** UID SEARCH, with the server refusing it turned into an error that says why. */
  private async searchUids(client: ImapClient, query: SearchObject): Promise<number[]> {
    const found = await client.search(query, { uid: true });
    if (found === false) {
      if (this.criteria === 'custom') {
        throw new M365MailError(`The server refused the custom search ${JSON.stringify(this.customCriteria ?? {})}`, {
          kind: 'config', fix: 'Check customCriteria: it must use imapflow search keys the server supports.',
        });
      }
      throw new M365MailError('The server refused UID SEARCH', { kind: 'server-error', retryable: true });
    }
    if (!Array.isArray(found)) throw Object.assign(new Error('No folder selected'), { code: 'NoMailboxSelected' });
    return found;
  }

  /**
   * After a UIDVALIDITY change: the UIDs (up to `endUid`) of qualifying mail that arrived after the
   * old checkpoint was stored. INTERNALDATE is the arrival time; SEARCH SINCE only narrows by date.
   */
  private async findRecoverable(client: ImapClient, savedAt: number, endUid: number): Promise<number[]> {
    if (endUid < 1) return [];
    const found = await this.searchUids(client, buildRecoveryQuery(this.criteria, endUid, savedAt, this.customCriteria));
    if (!found.length) return [];
    const messages = await client.fetchAll(compactUidSet(found), { uid: true, internalDate: true }, { uid: true });
    return selectRecovered(messages, savedAt, endUid);
  }

  /** Ends a finished recovery: everything up to the end it covered counts as handed over. Returns whether one ended. */
  private finishRecovery(): boolean {
    const recovery = this.recovery;
    if (!recovery) return false;
    this.recovery = undefined;
    this.keeper.advanceTo(recovery.endUid);
    return true;
  }

  /** Loads the stored checkpoint once, and reconciles it with the selected folder. */
  private async currentCheckpoint(client: ImapClient, mailbox: MailboxObject): Promise<Checkpoint> {
    const stored = await this.keeper.load();
    const uidValidity = Number(mailbox.uidValidity);
    if (stored && stored.uidValidity === uidValidity) return stored;

    const endUid = await this.folderEndUid(client, mailbox);
    const result = reconcileCheckpoint(stored, { uidValidity, endUid }, this.criteria);
    let checkpoint = result.checkpoint;
    if (result.change === 'uidvalidity-changed' && result.previous) {
      this.keeper.pending.clear();
      this.budget.clear();
      this.recovery = undefined;
      const savedAt = result.previous.savedAt;
      const uids = savedAt === undefined ? [] : await this.findRecoverable(client, savedAt, endUid);
      if (uids.length) {
        // Start just before the first mail to recover; finishRecovery() moves on to endUid.
        this.recovery = { uids, endUid };
        checkpoint = { uidValidity, lastUid: uids[0] - 1 };
      }
      const recovering = savedAt === undefined
        ? `Continuing with mail that arrives from now on (UID > ${endUid}); `
        : `Emitting ${uids.length} mail(s) that arrived after the last checkpoint (${new Date(savedAt).toISOString()}); older `;
      const warning: WatcherWarning = {
        kind: 'uidvalidity-changed',
        message: `UIDVALIDITY of "${this.folder}" changed from ${result.previous.uidValidity} to ${uidValidity}: `
          + `the folder was rebuilt on the server. ${recovering}`
          + 'mail already in the folder is not emitted again.',
        previous: result.previous,
        current: checkpoint,
      };
      this.context.onWarning(warning);
    }
    await this.keeper.replace(checkpoint);
    return checkpoint;
  }

  /** UIDNEXT - 1 from SELECT, or the highest UID when the server did not report UIDNEXT. */
  private async folderEndUid(client: ImapClient, mailbox: MailboxObject): Promise<number> {
    if (mailbox.uidNext > 0) return mailbox.uidNext - 1;
    if (!mailbox.exists) return 0;
    const last = await client.fetchOne('*', { uid: true });
    return last ? last.uid : 0;
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
    const meta: MailMeta = { uid, uidValidity, flags: [...(flags ?? [])], size, folder: this.folder, mailbox: this.context.mailbox };
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
