/**
 * One pass of the watcher over the selected folder: reconcile the checkpoint (recovering mail after
 * a UIDVALIDITY change), retry waiting dispositions, and hand over the next window of mail: mail
 * the server just announced by `UID FETCH last+1:*`, else the next window of the backlog (see
 * stream-window.ts), each handed over from one UID FETCH with a streaming parse, then the
 * dispositions of what was handed over (window-delivery.ts). `batchSize` is the unit of status
 * and progress inside a window, not of waiting for the server.
 */
import type { MailboxObject, SearchObject } from 'imapflow';
import { M365MailError } from '../core/errors';
import { ENGINE_DEFAULTS, type Criteria } from '../engine/options';
import type { RetryBudget } from '../engine/shell';
import {
  buildRecoveryQuery, buildSearchQuery, compactUidSet, qualifyingUids, reconcileCheckpoint, selectRecovered, type Checkpoint,
} from './checkpoint-policy';
import type { CheckpointKeeper } from './checkpoint-keeper';
import type { ImapClient } from './connection';
import type { DispositionQueue } from './disposition-queue';
import type { WatchSession } from './session';
import { nextWindow, type BacklogPlan, type StreamWindow } from './stream-window';
import type { MailboxWatcherOptions, WatcherWarning } from './watcher-types';
import { WindowDelivery, type DeliverySettings, type FetchContext } from './window-delivery';

export type { FetchContext } from './window-delivery';

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
  private readonly settings: DeliverySettings;
  private readonly customCriteria?: SearchObject;
  private readonly delivery: WindowDelivery;
  /** After a UIDVALIDITY change: mail that arrived since the old checkpoint, handed over before anything else. */
  private recovery?: { uids: number[]; endUid: number };
  /** The backlog being handed over window by window (searched once). */
  private backlog?: BacklogPlan;

  constructor(
    options: MailboxWatcherOptions,
    private readonly context: FetchContext,
    private readonly keeper: CheckpointKeeper,
    private readonly queue: DispositionQueue,
    /** Failed hand-overs per UID; in memory. */
    private readonly budget: RetryBudget<number>,
  ) {
    const batchSize = Math.max(1, Math.floor(options.batchSize ?? ENGINE_DEFAULTS.batchSize));
    // Dispositions need commands of their own between windows.
    const disposes = (options.disposition ?? ENGINE_DEFAULTS.imap.disposition) !== 'none';
    this.settings = {
      folder: options.folder || 'INBOX',
      criteria: options.criteria ?? ENGINE_DEFAULTS.imap.criteria,
      batchSize,
      streamThreshold: options.streamThresholdBytes ?? DEFAULT_STREAM_THRESHOLD_BYTES,
      downloadChunkBytes: options.downloadChunkBytes ?? 512 * 1024,
      holdAfterLargeBytes: options.holdAfterLargeBytes ?? 16 * 1024 * 1024,
      disposes,
      windowMails: disposes ? batchSize : Infinity,
    };
    this.customCriteria = options.customCriteria;
    this.delivery = new WindowDelivery(this.settings, context, keeper, queue, budget);
  }

  private get folder(): string {
    return this.settings.folder;
  }

  private get criteria(): Criteria {
    return this.settings.criteria;
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
      const result = await this.delivery.deliver(session, uidValidity, checkpoint.lastUid, window);
      return { delivered: result.delivered, more: result.more };
    }

    const window = await this.nextWindow(client, uidValidity, checkpoint.lastUid, existsBefore === undefined ? mailbox.uidNext - 1 : undefined);
    if (!window) return { delivered: 0, more: this.finishRecovery() };
    this.context.report.status({ state: 'fetching', newCount: window.count });
    const result = await this.delivery.deliver(session, uidValidity, checkpoint.lastUid, window);
    if (result.stop) return { delivered: result.delivered, more: false };
    const recovered = window.last && !result.more && this.finishRecovery();
    return { delivered: result.delivered, more: !window.last || result.more || recovered };
  }

  /** The most mails a window holds after its first large one, so what waits behind it stays within holdAfterLargeBytes. */
  private get afterLarge(): number {
    return Math.floor(this.settings.holdAfterLargeBytes / this.settings.streamThreshold);
  }

  /**
   * The next window of the backlog. A backlog is searched once and then handed over window by
   * window; mail that arrives meanwhile is found by the next search. Recovery after a UIDVALIDITY
   * change has its own list.
   */
  private async nextWindow(client: ImapClient, uidValidity: number, lastUid: number, selectedEndUid?: number): Promise<StreamWindow | undefined> {
    const limits = { maxMails: this.settings.windowMails, afterLarge: this.afterLarge, maxSetLength: MAX_UID_SET_LENGTH };
    if (this.recovery) return nextWindow({ uidValidity, uids: this.recovery.uids, large: [] }, lastUid, { ...limits, maxMails: this.settings.batchSize });
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
    const larger = Math.max(this.settings.streamThreshold - 1, Number(query.larger ?? 0));
    const searchLarge = async (): Promise<number[]> => qualifyingUids(await this.searchUids(client, { ...query, larger }), lastUid);
    const everyMailQualifies = (this.criteria === 'all' || this.criteria === 'new') && !this.settings.disposes;
    if (everyMailQualifies && selectedEndUid !== undefined && selectedEndUid > lastUid) {
      return { uidValidity, throughUid: selectedEndUid, large: selectedEndUid - lastUid <= this.afterLarge ? [] : await searchLarge() };
    }
    const uids = qualifyingUids(await this.searchUids(client, query), lastUid);
    return { uidValidity, uids, large: uids.length <= this.afterLarge ? [] : await searchLarge() };
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
}
