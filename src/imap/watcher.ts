/**
 * Watches one folder of one mailbox over a single long-lived IMAP connection and hands every
 * qualifying mail over exactly once, in UID order, through `onMail`. Owns reconnecting (imapflow
 * does not), IDLE, polling, the checkpoint and dispositions. Knows nothing of Node-RED.
 *
 * Life of a connection ("session"): connect + login → SELECT folder → check → IDLE (or wait for
 * the poll timer / a trigger) → check … until the server drops it, the token is about to expire,
 * or the watcher is paused/stopped. Then the run loop reconnects with backoff.
 */
import type { Readable } from 'node:stream';
import type { MailboxObject, SearchObject } from 'imapflow';
import { M365MailError, isM365MailError, type ErrorKind } from '../core/errors';
import { Backoff, type BackoffOptions } from '../core/backoff';
import {
  advanceCheckpoint, batchAfter, buildRecoveryQuery, buildSearchQuery, compactUidSet, qualifyingUids, reconcileCheckpoint, selectRecovered,
  type Checkpoint, type CheckpointStore, type Criteria,
} from './checkpoint-policy';
import { systemClock, TimerSet, type Clock } from '../core/clock';
import { settlesWithin } from '../core/timeout';
import { EngineReporter, safely } from '../engine/reporter';
import {
  closeConnection, openConnection, renewDelay,
  type ImapClient, type ImapConnectionOptions,
} from './connection';
import { applyDisposition, PendingDispositions, type Disposition } from './dispositions';
import { dispositionError, toImapError } from './errors';

export type WatchMode = 'idle' | 'poll' | 'trigger';
export type WatcherState = 'connecting' | 'watching' | 'polling' | 'fetching' | 'paused' | 'error' | 'stopped';

export interface WatcherStatus {
  state: WatcherState;
  detail?: string;
  /** Mails handed over by the check that just finished (or found, while fetching). */
  newCount?: number;
  errorKind?: ErrorKind;
}

/** What the watcher knows about a mail when it hands it over. */
export interface MailMeta {
  uid: number;
  uidValidity: number;
  flags: string[];
  size: number;
  folder: string;
  mailbox: string;
}

/** The raw RFC 822 source: a Buffer, or a stream for large mails (read it to the end before resolving). */
export type MailSource = Buffer | Readable;

export interface WatcherWarning {
  kind: 'uidvalidity-changed';
  message: string;
  previous: Checkpoint;
  current: Checkpoint;
}

export interface MailboxWatcherCallbacks {
  /** Builds and sends the message. The mail counts as handed over when this resolves. */
  onMail(source: MailSource, meta: MailMeta): Promise<void>;
  onStatus?(status: WatcherStatus): void;
  onError?(error: M365MailError): void;
  onWarning?(warning: WatcherWarning): void;
}

export interface MailboxWatcherOptions extends ImapConnectionOptions {
  checkpointStore: CheckpointStore;
  /** Folder path; default `INBOX`. */
  folder?: string;
  mode?: WatchMode;
  /** Seconds between polls, and between safety re-checks in idle mode; default 60. */
  intervalSec?: number;
  criteria?: Criteria;
  /** imapflow search object for `criteria: 'custom'` (see parseCustomCriteria). */
  customCriteria?: SearchObject;
  /** Most mails handed over per check; a backlog drains batch by batch. Default 100. */
  batchSize?: number;
  disposition?: Disposition;
  moveTo?: string;
  /**
   * Mails larger than this are streamed (download()) instead of buffered. Default 1 MiB. Measured
   * on a 30 MB mail: buffered FETCH peaks at ~71 MB RSS, download() with 512 KiB chunks at ~32 MB
   * (64 KiB chunks: ~25 MB but 2.6× slower).
   */
  streamThresholdBytes?: number;
  /** Chunk size of streamed downloads. Default 512 KiB. */
  downloadChunkBytes?: number;
  /** Complete mails held in memory behind one that is downloaded after its FETCH. Default 16 MiB. */
  holdAfterLargeBytes?: number;
  /** A mail whose onMail keeps failing is skipped after this many attempts. Default 3. */
  maxDeliveryAttempts?: number;
  /** Reconnect this long before the token expires. Default 5 min. */
  renewMarginMs?: number;
  /** NOOP on an otherwise quiet connection (poll/trigger mode) this often. Default 10 min. */
  keepAliveMs?: number;
  backoff?: BackoffOptions;
  clock?: Clock;
}

type SessionEndReason = 'closed' | 'renew' | 'paused' | 'stopped';

interface SessionEnd {
  reason: SessionEndReason;
  error?: M365MailError;
  /** Whether the session got as far as a completed check (then backoff starts over). */
  healthy: boolean;
}

interface Session {
  client: ImapClient;
  timers: TimerSet;
  ended: boolean;
  ending?: SessionEndReason;
  endError?: M365MailError;
  healthy: boolean;
  /** IDLE was refused; the session polls at `interval` instead. */
  idleUnsupported: boolean;
  /** The token is due for renewal, but a check was running: renew as soon as it is done. */
  renewDue?: boolean;
  /** The folder's message count when the last pass began (what its search covered). */
  existsSeen?: number;
  lastError?: unknown;
  finish(end: Omit<SessionEnd, 'healthy'>): void;
  done: Promise<SessionEnd>;
}

type DeliveryOutcome = 'delivered' | 'skipped' | 'retry-later';

/** A mail of a FETCH on its way: complete, too large for the FETCH (downloaded later), or gone. */
interface WaitingMail {
  kind: 'mail' | 'large' | 'gone';
  uid: number;
  flags?: Set<string>;
  size?: number;
  source?: Buffer;
}


const LOGOUT_TIMEOUT_MS = 1_000;
/** Errors that often pass by themselves; the first of a row is not reported. */
const TRANSIENT_KINDS: ReadonlySet<ErrorKind> = new Set<ErrorKind>(['network', 'timeout', 'server-error']);
const STOP_WAIT_MS = 1_500;
/** Up to this many newly announced mails are fetched straight away, without SEARCH. */
const ANNOUNCED_FETCH_MAX = 20;
/** How often a draining backlog stores its checkpoint (a killed process re-emits at most this much). */
const CHECKPOINT_SAVE_INTERVAL_MS = 500;

/**
 * Watches one mailbox folder. Create it, call `start()`, and `stop()` on close.
 *
 * @example
 * const watcher = new MailboxWatcher({ host, port: 993, mailbox, tokenSource, checkpointStore }, {
 *   onMail: async (source, meta) => send(await toMessage(source, meta)),
 *   onStatus: (s) => node.status(s), onError: (e) => node.error(e.toString()),
 * });
 * watcher.start();
 */
export class MailboxWatcher {
  private readonly folder: string;
  private readonly mode: WatchMode;
  private readonly intervalMs: number;
  private readonly criteria: Criteria;
  private readonly batchSize: number;
  private readonly disposition: Disposition;
  private readonly streamThreshold: number;
  private readonly downloadChunkBytes: number;
  private readonly holdAfterLargeBytes: number;
  private readonly maxDeliveryAttempts: number;
  private readonly renewMarginMs: number;
  private readonly keepAliveMs: number;
  private readonly clock: Clock;
  private readonly timers: TimerSet;
  private readonly backoff: Backoff;
  private readonly pending = new PendingDispositions();
  private readonly failedDeliveries = new Map<number, number>();

  private started = false;
  private stopped = false;
  private paused = false;
  private stopPromise?: Promise<void>;
  private loopDone: Promise<void> = Promise.resolve();
  private wakeLoop?: () => void;
  private session?: Session;
  private checking = false;
  private checkAgain = false;
  /** A check was asked for while one ran: the server must be asked (NOOP) for new mail again. */
  private refreshAgain = false;
  /** The check that is running (it may outlive its session by a moment), so stop() can wait for it. */
  private checkRun: Promise<void> = Promise.resolve();
  /** The newest checkpoint write; never rejects (failures are reported). */
  private checkpointSaved: Promise<void> = Promise.resolve();
  /** The checkpoint moved since the last write was started. */
  private checkpointDirty = false;
  private lastCheckpointSave = 0;
  private checkWaiters: Array<() => void> = [];
  private checkpoint?: Checkpoint;
  private checkpointLoaded = false;
  /** After a UIDVALIDITY change: mail that arrived since the old checkpoint, handed over before anything else. */
  private recovery?: { uids: number[]; endUid: number };
  /** UIDs found by the last search that later batches of the same backlog hand over. */
  private backlog?: { uidValidity: number; uids: number[] };
  private readonly report: EngineReporter<WatcherStatus>;

  constructor(private readonly options: MailboxWatcherOptions, private readonly callbacks: MailboxWatcherCallbacks) {
    this.report = new EngineReporter<WatcherStatus>(callbacks, 'stopped', () => this.stopped);
    this.folder = options.folder || 'INBOX';
    this.mode = options.mode ?? 'idle';
    this.intervalMs = Math.max(1, options.intervalSec ?? 60) * 1000;
    this.criteria = options.criteria ?? 'new';
    this.batchSize = Math.max(1, Math.floor(options.batchSize ?? 100));
    this.disposition = options.disposition ?? 'none';
    this.streamThreshold = options.streamThresholdBytes ?? 1024 * 1024;
    this.downloadChunkBytes = options.downloadChunkBytes ?? 512 * 1024;
    this.holdAfterLargeBytes = options.holdAfterLargeBytes ?? 16 * 1024 * 1024;
    this.maxDeliveryAttempts = Math.max(1, options.maxDeliveryAttempts ?? 3);
    this.renewMarginMs = options.renewMarginMs ?? 5 * 60_000;
    this.keepAliveMs = options.keepAliveMs ?? 10 * 60_000;
    this.clock = options.clock ?? systemClock;
    this.timers = new TimerSet(this.clock);
    this.backoff = new Backoff(options.backoff);
  }

  /** The last state reported through onStatus. */
  get state(): WatcherState {
    return this.report.state;
  }

  /** Starts connecting and watching; returns at once (progress is reported through the callbacks). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.loopDone = this.runLoop().catch((err) => this.report.error(toImapError(err, { action: 'watch' })));
  }

  /**
   * Checks the folder now (any mode). Resolves when that check finished — or at once when paused
   * or stopped. While disconnected it cuts the reconnect wait short.
   */
  checkNow(): Promise<void> {
    if (this.stopped || this.paused || !this.started) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.checkWaiters.push(resolve));
    if (this.session && !this.session.ended) this.requestCheck(this.session);
    else this.wake();
    return done;
  }

  /** Stops watching and closes the connection until `resume()`. */
  async pause(): Promise<void> {
    if (this.stopped || this.paused) return;
    this.paused = true;
    this.resolveCheckWaiters();
    const session = this.session;
    if (session) await this.endSession(session, 'paused');
    this.wake();
    this.report.status({ state: 'paused' });
  }

  /** Reconnects and watches again after `pause()`. */
  resume(): void {
    if (this.stopped || !this.paused) return;
    this.paused = false;
    this.wake();
  }

  /**
   * Logs out (briefly), closes the connection and clears every timer. Resolves within ~3 s even
   * when a callback or the server hangs. Safe to call more than once.
   */
  stop(): Promise<void> {
    this.stopPromise ??= (async () => {
      this.stopped = true;
      this.wake();
      const session = this.session;
      if (session) await this.endSession(session, 'stopped');
      // A check that was handing over a mail finishes storing the checkpoint first, so a mail that
      // was sent is not sent again after a restart; its IMAP commands fail at once on the closed socket.
      const finished = Promise.all([this.loopDone, this.checkRun]).then(() => this.checkpointSaved);
      await settlesWithin(finished, STOP_WAIT_MS);
      this.timers.clear();
      this.resolveCheckWaiters();
      this.report.final({ state: 'stopped' });
    })();
    return this.stopPromise;
  }

  // ── run loop: one session after another, with backoff ──────────────────────────────────────

  private async runLoop(): Promise<void> {
    let forceRefresh = false;
    let transientFailures = 0;
    while (!this.stopped) {
      if (this.paused) {
        this.report.status({ state: 'paused' });
        await this.waitForWake();
        continue;
      }
      this.report.status({ state: 'connecting' });
      let end: SessionEnd;
      try {
        end = await this.runSession(forceRefresh);
      } catch (err) {
        end = { reason: 'closed', error: toImapError(err, this.errorContext('connect')), healthy: false };
        this.resolveCheckWaiters();
      }
      forceRefresh = false;
      if (this.stopped) break;
      if (end.healthy) this.backoff.reset();
      if (end.reason === 'paused') continue;
      if (end.reason === 'renew') {
        // Planned: the token is about to expire. Ask for a new one rather than the cached one.
        forceRefresh = true;
        continue;
      }
      let delay: number;
      const error = end.error;
      if (error?.kind === 'token-expired') {
        forceRefresh = true;
        delay = end.healthy ? 0 : this.backoff.next(error.retryAfterMs);
      } else if (error && !error.retryable) {
        delay = this.backoff.longest(error.retryAfterMs);
      } else {
        delay = this.backoff.next(error?.retryAfterMs);
      }
      transientFailures = end.healthy ? 0 : transientFailures;
      const transient = error !== undefined && error.retryable && TRANSIENT_KINDS.has(error.kind);
      transientFailures = transient ? transientFailures + 1 : 0;
      const routine = end.healthy && (error?.kind === 'network' || error?.kind === 'token-expired');
      // A routine drop of a healthy connection, or one passing blip (a connection cut, a server
      // that could not check the token just then) that the next attempt may well cure, is not
      // worth a node error; a second one in a row, and everything else, is.
      if (error && !routine && (!transient || transientFailures >= 2)) {
        this.report.error(error);
        this.report.status({ state: 'error', errorKind: error.kind, detail: `${error.message} — retry in ${Math.ceil(delay / 1000)} s` });
      } else {
        this.report.status({ state: 'connecting', detail: 'connection lost, reconnecting' });
      }
      if (delay > 0) await this.sleep(delay);
    }
  }

  private async runSession(forceRefresh: boolean): Promise<SessionEnd> {
    const opened = await openConnection(this.options, forceRefresh);
    const client = opened.client;
    if (this.stopped || this.paused) {
      await closeConnection(client, LOGOUT_TIMEOUT_MS);
      return { reason: this.stopped ? 'stopped' : 'paused', healthy: false };
    }
    const session = this.createSession(client);
    this.session = session;
    try {
      await client.mailboxOpen(this.folder, { readOnly: this.disposition === 'none' });
    } catch (err) {
      // imapflow marks a missing folder with `mailboxMissing`; toImapError maps it to 'folder-not-found'.
      const mapped = toImapError(err, this.errorContext('open folder'));
      await this.endSession(session, 'closed', mapped);
      return session.done;
    }
    if (opened.tokenExpiresAt !== undefined) {
      const delay = renewDelay(opened.tokenExpiresAt - this.clock.now(), this.renewMarginMs);
      const expiresAt = opened.tokenExpiresAt;
      session.timers.once(delay, () => this.renewWhenTokenReady(session, expiresAt));
    }
    if (this.mode !== 'trigger') session.timers.every(this.intervalMs, () => this.requestCheck(session));
    if (this.mode !== 'idle' && (this.mode === 'trigger' || this.intervalMs > this.keepAliveMs)) {
      session.timers.every(this.keepAliveMs, () => {
        if (!this.checking && !session.ended) client.noop().catch(() => undefined);
      });
    }
    // SELECT just told the folder's state: the first check needs no NOOP.
    this.requestCheck(session, true);
    return session.done;
  }

  private createSession(client: ImapClient): Session {
    let resolveDone!: (end: SessionEnd) => void;
    const done = new Promise<SessionEnd>((resolve) => { resolveDone = resolve; });
    const onExists = (): void => {
      if (this.mode === 'idle') this.requestCheck(session, true);
    };
    const onMailboxOpen = (mailbox: MailboxObject): void => {
      // A re-SELECT with a new UIDVALIDITY: re-check so the checkpoint is reconciled at once.
      if (this.checkpoint && Number(mailbox.uidValidity) !== this.checkpoint.uidValidity) this.requestCheck(session);
    };
    const onClose = (): void => {
      const error = session.endError ?? (session.ending ? undefined : this.closeError(session));
      session.finish({ reason: session.ending ?? 'closed', error });
    };
    const onError = (err: Error): void => { session.lastError = err; };
    const session: Session = {
      client,
      timers: new TimerSet(this.clock),
      ended: false,
      healthy: false,
      idleUnsupported: false,
      done,
      finish: (end) => {
        if (session.ended) return;
        session.ended = true;
        session.timers.clear();
        client.off('exists', onExists);
        client.off('mailboxOpen', onMailboxOpen);
        client.off('close', onClose);
        client.off('error', onError);
        if (this.session === session) this.session = undefined;
        resolveDone({ ...end, healthy: session.healthy });
      },
    };
    client.on('exists', onExists);
    client.on('mailboxOpen', onMailboxOpen);
    client.on('close', onClose);
    client.on('error', onError);
    return session;
  }

  /** Why the server or network ended a session, e.g. `* BYE … AccessTokenExpired`. */
  private closeError(session: Session): M365MailError {
    const client = session.client;
    const cause = session.lastError ?? Object.assign(new Error('Connection closed'), { code: 'NoConnection', reason: client.byeReason });
    if (client.byeReason && typeof cause === 'object' && cause !== null && !(cause as { reason?: string }).reason) {
      (cause as { reason?: string }).reason = client.byeReason;
    }
    return toImapError(cause, this.errorContext('watch'));
  }

  /** Ends a session on purpose: LOGOUT (short timeout), close; resolves when it is over. */
  private async endSession(session: Session, reason: SessionEndReason, error?: M365MailError): Promise<SessionEnd> {
    if (!session.ended && !session.ending) {
      session.ending = reason;
      session.endError = error;
      session.timers.clear();
      await closeConnection(session.client, LOGOUT_TIMEOUT_MS);
      session.finish({ reason, error });
    }
    return session.done;
  }

  /**
   * Planned renewal: get the new token while the old session still works, and only then reconnect
   * (never in the middle of a running check). If the identity server fails just now, the session
   * goes on with its old token and the renewal is tried again while that token lasts.
   */
  private renewWhenTokenReady(session: Session, tokenExpiresAt: number): void {
    const reconnect = (): void => {
      if (!this.isActive(session)) return;
      if (this.checking) session.renewDue = true;
      else void this.endSession(session, 'renew');
    };
    this.options.tokenSource.getAccessToken('imap', { forceRefresh: true }).then(reconnect, () => {
      const left = tokenExpiresAt - this.clock.now();
      if (left > 2_000 && this.isActive(session)) {
        session.timers.once(Math.min(30_000, Math.floor(left / 2)), () => this.renewWhenTokenReady(session, tokenExpiresAt));
      } else {
        reconnect(); // the reconnect reports the token problem, with its backoff
      }
    });
  }

  private isActive(session: Session): boolean {
    return !session.ended && !session.ending && this.session === session && !this.stopped && !this.paused;
  }

  // ── checks ──────────────────────────────────────────────────────────────────────────────────

  /** `announced`: the server has just told of new mail (EXISTS, SELECT), so it need not be asked (NOOP). */
  private requestCheck(session: Session, announced = false): void {
    if (!this.isActive(session)) return;
    if (this.checking) {
      this.checkAgain = true;
      if (!announced) this.refreshAgain = true;
      return;
    }
    this.checkRun = this.runChecks(session, !announced);
  }

  /** Runs checks until nothing more is waiting, then goes back to IDLE / waiting. Never rejects. */
  private async runChecks(session: Session, refresh: boolean): Promise<void> {
    this.checking = true;
    let delivered = 0;
    let failed = false;
    try {
      // Servers show new mail to a session only after they announced it (EXISTS); a NOOP makes
      // them do so, so a poll or trigger finds mail that arrived since the last command.
      if (refresh) await session.client.noop();
      this.refreshAgain = false;
      do {
        this.checkAgain = false;
        if (this.refreshAgain) {
          // Asked for while the last pass ran: mail may have arrived that the server has not announced.
          this.refreshAgain = false;
          await session.client.noop();
        }
        const result = await this.checkOnce(session);
        session.healthy = true;
        delivered += result.delivered;
        if (result.more) this.checkAgain = true;
        // Let other events (stop, pause, the socket) in between batches of a backlog.
        if (this.checkAgain) await new Promise<void>((resolve) => setImmediate(resolve));
      } while (this.checkAgain && this.isActive(session));
      // The check is done once its progress is stored.
      await this.flushCheckpoint();
      if (this.isActive(session)) this.report.recovered();
    } catch (err) {
      failed = true;
      const error = toImapError(err, this.errorContext('check'));
      if (this.isActive(session) && (error.kind === 'config' || error.kind === 'storage') && session.client.usable) {
        // The connection is fine; the next check tries again.
        this.report.error(error);
        this.report.status({ state: 'error', errorKind: error.kind, detail: error.message });
      } else if (!session.ended) {
        void this.endSession(session, 'closed', session.client.usable ? error : this.closeError(session));
      }
    } finally {
      // Also after a failed or stopped check, so stop() and the next session find it stored.
      void this.flushCheckpoint();
      this.checking = false;
      if (session.renewDue && this.isActive(session)) {
        void this.endSession(session, 'renew');
      } else if (this.isActive(session)) {
        this.afterCheck(session, delivered, failed);
        // An event that arrived while the last batch was being finished.
        if (this.checkAgain) this.requestCheck(session);
      } else if (this.session && this.session !== session && this.isActive(this.session)) {
        // This check outlived its session (a reconnect or resume came quickly), and the new
        // session's first check was held back meanwhile: run it now, or it would not even IDLE.
        this.requestCheck(this.session);
      }
      this.resolveCheckWaiters();
    }
  }

  private afterCheck(session: Session, delivered: number, failed: boolean): void {
    const idle = this.mode === 'idle' && !session.idleUnsupported && session.client.capabilities.has('IDLE');
    if (idle) this.startIdle(session);
    if (failed) return;
    if (this.mode === 'idle') {
      this.report.status(idle
        ? { state: 'watching', newCount: delivered }
        : { state: 'polling', newCount: delivered, detail: 'server has no IDLE; polling' });
    } else if (this.mode === 'poll') {
      this.report.status({ state: 'polling', newCount: delivered });
    } else {
      this.report.status({ state: 'watching', newCount: delivered, detail: 'waiting for trigger' });
    }
  }

  /**
   * IDLE right after each check (imapflow's auto-IDLE would wait 15 s). imapflow restarts it every
   * `idleRestartMs`; the next command breaks it. If the server ends it on its own, start it again.
   */
  private startIdle(session: Session): void {
    const client = session.client;
    if (!this.isActive(session) || this.checking || client.idling) return;
    client.idle().then((result) => {
      if (result === false) {
        // Refused by the server: poll at `interval` instead (the interval timer is running).
        session.idleUnsupported = true;
        if (this.isActive(session) && !this.checking) this.report.status({ state: 'polling', detail: 'server refused IDLE; polling' });
        return;
      }
      // A short pause keeps a server that ends every IDLE at once from turning this into a busy loop.
      if (this.isActive(session) && !this.checking) session.timers.once(250, () => this.startIdle(session));
    }, () => undefined /* the connection closed; 'close' ends the session */);
  }

  private async checkOnce(session: Session): Promise<{ delivered: number; more: boolean }> {
    const client = session.client;
    const mailbox = client.mailbox;
    if (!mailbox) throw Object.assign(new Error(`Folder "${this.folder}" is no longer selected`), { code: 'NoMailboxSelected' });
    const uidValidity = Number(mailbox.uidValidity);
    const checkpoint = await this.currentCheckpoint(client, mailbox);
    if (!this.isActive(session)) return { delivered: 0, more: false };

    if (this.disposition !== 'none' && this.pending.size) await this.retryPendingDispositions(session, uidValidity);

    // Mail the server announced since the last pass (EXISTS): a few new mails in steady state are
    // fetched at once by `UID FETCH lastUid+1:*`, without a SEARCH (push latency).
    const existsBefore = session.existsSeen;
    session.existsSeen = mailbox.exists;
    const announced = existsBefore === undefined ? 0 : mailbox.exists - existsBefore;
    if (announced > 0 && announced <= ANNOUNCED_FETCH_MAX && !this.recovery && !this.backlog && this.criteria !== 'custom') {
      const result = await this.deliverFetched(session, uidValidity, checkpoint.lastUid, `${checkpoint.lastUid + 1}:*`);
      return { delivered: result.delivered, more: result.more };
    }

    const { batch, remaining } = await this.nextBatch(client, uidValidity, checkpoint.lastUid);
    if (!batch.length) return { delivered: 0, more: this.finishRecovery() };
    this.report.status({ state: 'fetching', newCount: batch.length + remaining });
    const result = await this.deliverFetched(session, uidValidity, checkpoint.lastUid, compactUidSet(batch), batch);
    if (result.stop) return { delivered: result.delivered, more: false };
    const recovered = remaining === 0 && !result.more && this.finishRecovery();
    return { delivered: result.delivered, more: remaining > 0 || result.more || recovered };
  }

  /**
   * The next batch of UIDs to hand over, ascending, and how many wait after it. A backlog is
   * searched once and then taken batch by batch from that answer (searching and sorting the whole
   * rest once per batch cost more than the FETCH of a 20,000-mail drain); mail that arrives
   * meanwhile is found by the search after the backlog is done. Recovery after a UIDVALIDITY
   * change has its own list.
   */
  private async nextBatch(client: ImapClient, uidValidity: number, lastUid: number): Promise<{ batch: number[]; remaining: number }> {
    if (this.recovery) return batchAfter(this.recovery.uids, lastUid, this.batchSize);
    let backlog = this.backlog;
    if (!backlog || backlog.uidValidity !== uidValidity || backlog.uids[backlog.uids.length - 1] <= lastUid) {
      const found = await this.searchUids(client, buildSearchQuery(this.criteria, lastUid, this.options.customCriteria));
      backlog = { uidValidity, uids: qualifyingUids(found, lastUid) };
    }
    // From the checkpoint on, not from the end of the last batch: a batch cut short is taken again.
    const next = batchAfter(backlog.uids, lastUid, this.batchSize);
    this.backlog = next.remaining > 0 ? backlog : undefined;
    return next;
  }

  /**
   * Hands over the mails of one UID FETCH of flags, size and source, in UID order, parsing each
   * while the server sends the next (as a plain imapflow loop does). The source is asked for up to
   * `streamThreshold` bytes; a mail that does not fit is downloaded in chunks once the FETCH is
   * over (no other command can run during it). From the first such mail on, the FETCH's answers
   * wait in order (complete mails up to `holdAfterLargeBytes`; beyond that the rest is left to
   * the next pass). Dispositions are applied at the end. With `expected` (the batch asked for), a
   * UID the server no longer has is passed.
   */
  private async deliverFetched(session: Session, uidValidity: number, lastUid: number, range: string, expected?: number[]): Promise<{ delivered: number; more: boolean; stop: boolean }> {
    const limit = this.streamThreshold;
    const query = { uid: true, flags: true, size: true, source: { start: 0, maxLength: limit } };
    const delivered: number[] = [];
    const waiting: WaitingMail[] = [];
    let heldBytes = 0;
    let more = false;
    let stop = false;
    let next = 0;
    const handOver = async (mail: WaitingMail, source: MailSource | undefined): Promise<boolean> => {
      const outcome = await this.handOver(session, mail.uid, uidValidity, mail.size ?? (Buffer.isBuffer(source) ? source.length : 0), mail.flags, source);
      if (outcome === 'delivered') delivered.push(mail.uid);
      if (outcome === 'retry-later' || !this.isActive(session)) stop = true;
      return !stop;
    };
    // In order: straight away while nothing waits, else behind what waits.
    const take = async (mail: WaitingMail): Promise<boolean> => {
      if (waiting.length || mail.kind === 'large') {
        waiting.push(mail);
        return true;
      }
      if (mail.kind === 'gone') {
        this.advanceTo(mail.uid);
        return true;
      }
      return handOver(mail, mail.source);
    };
    // UIDs of the batch the FETCH skipped were expunged meanwhile.
    const passMissing = async (beforeUid: number): Promise<void> => {
      while (expected && next < expected.length && expected[next] < beforeUid) await take({ kind: 'gone', uid: expected[next++] });
    };

    for await (const message of session.client.fetch(range, query, { uid: true })) {
      if (!this.isActive(session)) {
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
      if (delivered.length + waiting.length >= this.batchSize) {
        more = true;
        break;
      }
      const source = message.source;
      const mail: WaitingMail = source !== undefined && source.length < limit
        ? { kind: 'mail', uid: message.uid, flags: message.flags, size: message.size, source }
        : { kind: 'large', uid: message.uid, flags: message.flags, size: message.size };
      if (waiting.length && mail.source) {
        heldBytes += mail.source.length;
        if (heldBytes > this.holdAfterLargeBytes) {
          more = true;
          break;
        }
      }
      if (!(await take(mail))) break;
    }
    if (!stop && !more && this.isActive(session)) await passMissing(Infinity);

    for (const mail of waiting) {
      if (stop || !this.isActive(session)) break;
      if (mail.kind === 'gone') {
        this.advanceTo(mail.uid);
      } else if (mail.kind === 'mail') {
        await handOver(mail, mail.source);
      } else {
        const download = await session.client.download(String(mail.uid), undefined, { uid: true, chunkSize: this.downloadChunkBytes });
        await handOver(mail, 'content' in download && download.content ? download.content : undefined);
      }
    }
    if (delivered.length) {
      // Progress: a drop from now on is routine (no node error, backoff starts over), even in
      // the middle of a long first backlog.
      session.healthy = true;
      await this.applyDispositions(session, delivered, uidValidity);
    }
    stop = stop || !this.isActive(session);
    return { delivered: delivered.length, more: more && !stop, stop };
  }

  /** UID SEARCH, with the server refusing it turned into an error that says why. */
  private async searchUids(client: ImapClient, query: SearchObject): Promise<number[]> {
    const found = await client.search(query, { uid: true });
    if (found === false) {
      if (this.criteria === 'custom') {
        throw new M365MailError(`The server refused the custom search ${JSON.stringify(this.options.customCriteria ?? {})}`, {
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
    const found = await this.searchUids(client, buildRecoveryQuery(this.criteria, endUid, savedAt, this.options.customCriteria));
    if (!found.length) return [];
    const messages = await client.fetchAll(compactUidSet(found), { uid: true, internalDate: true }, { uid: true });
    return selectRecovered(messages, savedAt, endUid);
  }

  /** Ends a finished recovery: everything up to the end it covered counts as handed over. Returns whether one ended. */
  private finishRecovery(): boolean {
    const recovery = this.recovery;
    if (!recovery) return false;
    this.recovery = undefined;
    this.advanceTo(recovery.endUid);
    return true;
  }

  /** Loads the stored checkpoint once, and reconciles it with the selected folder. */
  private async currentCheckpoint(client: ImapClient, mailbox: MailboxObject): Promise<Checkpoint> {
    if (!this.checkpointLoaded) {
      try {
        this.checkpoint = await this.options.checkpointStore.load();
      } catch (err) {
        throw new M365MailError('Could not read the stored checkpoint', {
          kind: 'storage', fix: 'Check that the Node-RED user directory is readable and writable.', cause: err,
        });
      }
      this.checkpointLoaded = true;
    }
    const uidValidity = Number(mailbox.uidValidity);
    if (this.checkpoint && this.checkpoint.uidValidity === uidValidity) return this.checkpoint;

    const endUid = await this.folderEndUid(client, mailbox);
    const result = reconcileCheckpoint(this.checkpoint, { uidValidity, endUid }, this.criteria);
    let checkpoint = result.checkpoint;
    if (result.change === 'uidvalidity-changed' && result.previous) {
      this.pending.clear();
      this.failedDeliveries.clear();
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
      safely(() => this.callbacks.onWarning?.(warning));
    }
    this.checkpoint = checkpoint;
    await this.saveCheckpoint();
    return this.checkpoint;
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
  private async handOver(session: Session, uid: number, uidValidity: number, size: number, flags: Set<string> | undefined, source: MailSource | undefined): Promise<DeliveryOutcome> {
    if (!source) {
      this.advanceTo(uid);
      return 'skipped';
    }
    const meta: MailMeta = { uid, uidValidity, flags: [...(flags ?? [])], size, folder: this.folder, mailbox: this.options.mailbox };
    try {
      await this.callbacks.onMail(source, meta);
    } catch (err) {
      discard(source);
      if (!this.isActive(session)) return 'retry-later'; // the connection broke, not the mail
      const cause = isM365MailError(err) ? err : undefined;
      if (!session.client.usable || cause?.kind === 'network' || cause?.kind === 'timeout') {
        // The download broke off (a streamed mail whose connection dropped): not the mail's fault,
        // so no attempt is counted, or a large mail on a flaky line would end up skipped. Ending the
        // session makes the watcher reconnect and fetch it again.
        throw cause ?? err;
      }
      const attempts = (this.failedDeliveries.get(uid) ?? 0) + 1;
      const giveUp = attempts >= this.maxDeliveryAttempts;
      this.report.error(new M365MailError(
        `Handing over mail UID ${uid} failed (attempt ${attempts} of ${this.maxDeliveryAttempts})${giveUp ? '; skipping it' : '; will retry'}: ${err instanceof Error ? err.message : String(err)}`,
        { kind: cause?.kind ?? 'unknown', fix: cause?.fix, retryable: !giveUp, cause: err },
      ), true);
      if (!giveUp) {
        this.failedDeliveries.set(uid, attempts);
        return 'retry-later';
      }
      this.failedDeliveries.delete(uid);
      this.advanceTo(uid);
      return 'skipped';
    }
    // A stream the callback left unread would hold the connection.
    discard(source);
    this.failedDeliveries.delete(uid);
    this.advanceTo(uid);
    return 'delivered';
  }

  /** Marks, moves or deletes mails that were handed over; a failure is queued for a retry. */
  private async applyDispositions(session: Session, uids: number[], uidValidity: number): Promise<void> {
    if (this.disposition === 'none') return;
    for (const uid of uids) {
      const failure = this.isActive(session)
        ? await applyDisposition(session.client, uid, this.disposition, this.options.moveTo)
        : dispositionError(`Could not apply the disposition of mail UID ${uid}: the connection closed`, { retryable: true });
      if (!failure) continue;
      if (this.isActive(session)) this.report.error(failure, true);
      if (failure.retryable) {
        const dropped = this.pending.add(uid, uidValidity);
        if (dropped) this.report.error(new M365MailError(`Gave up the disposition of mail UID ${dropped.uid}: too many pending`, { kind: 'disposition-failed' }), true);
      }
    }
  }

  private async retryPendingDispositions(session: Session, uidValidity: number): Promise<void> {
    for (const item of this.pending.due(uidValidity)) {
      if (!this.isActive(session)) return;
      const failure = await applyDisposition(session.client, item.uid, this.disposition, this.options.moveTo);
      if (!failure) {
        this.pending.done(item.uid);
      } else if (!failure.retryable || this.pending.failed(item.uid)) {
        this.pending.done(item.uid);
        this.report.error(new M365MailError(`Gave up after ${item.attempts} attempts: ${failure.message}`, { kind: 'disposition-failed', fix: failure.fix }), true);
      }
    }
  }

  /**
   * Moves the checkpoint past `uid`. Storing it is durable (write, fsync, rename), so while a
   * backlog drains it is stored at most every CHECKPOINT_SAVE_INTERVAL_MS, and always when a check
   * ends (runChecks) and on stop(). Only a killed process can lose the newest positions, and then
   * emits those mails again rather than losing them.
   */
  private advanceTo(uid: number): void {
    if (!this.checkpoint) return;
    this.checkpoint = advanceCheckpoint(this.checkpoint, uid);
    this.checkpointDirty = true;
    if (this.clock.now() - this.lastCheckpointSave >= CHECKPOINT_SAVE_INTERVAL_MS) this.storeCheckpoint();
  }

  /** Starts storing the checkpoint when it moved since the last save; returns the newest write. */
  private flushCheckpoint(): Promise<void> {
    if (this.checkpointDirty) this.storeCheckpoint();
    return this.checkpointSaved;
  }

  private storeCheckpoint(): void {
    this.checkpointDirty = false;
    this.lastCheckpointSave = this.clock.now();
    this.checkpointSaved = this.saveCheckpoint();
  }

  private async saveCheckpoint(): Promise<void> {
    if (!this.checkpoint) return;
    // Wall time, not this.clock: after a UIDVALIDITY change it is compared with the server's INTERNALDATE.
    this.checkpoint = { ...this.checkpoint, savedAt: Date.now() };
    try {
      await this.options.checkpointStore.save({ ...this.checkpoint });
    } catch (err) {
      this.report.error(new M365MailError('Could not store the checkpoint; after a restart some mail may be emitted again', {
        kind: 'storage', fix: 'Check free disk space and permissions of the Node-RED user directory.', cause: err,
      }));
    }
  }

  // ── helpers ─────────────────────────────────────────────────────────────────────────────────

  private errorContext(action: string): { action: string; mailbox: string; folder: string; appOnly?: boolean } {
    return { action, mailbox: this.options.mailbox, folder: this.folder, appOnly: this.options.appOnly };
  }

  private resolveCheckWaiters(): void {
    const waiters = this.checkWaiters;
    this.checkWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const cancel = this.timers.once(ms, () => {
        this.wakeLoop = undefined;
        resolve();
      });
      this.wakeLoop = () => {
        cancel();
        this.wakeLoop = undefined;
        resolve();
      };
    });
  }

  private waitForWake(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wakeLoop = () => {
        this.wakeLoop = undefined;
        resolve();
      };
    });
  }

  private wake(): void {
    this.wakeLoop?.();
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
