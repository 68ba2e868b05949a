/**
 * Watches one folder of one mailbox over a single long-lived IMAP connection and hands every
 * qualifying mail over exactly once, in UID order, through `onMail`. Owns reconnecting (imapflow
 * does not) and the scheduling of checks; the parts do the rest: the session (connect, renewal,
 * IDLE), the fetch pass, the checkpoint keeper and the disposition queue. Knows nothing of Node-RED.
 *
 * Life of a session: connect + login → SELECT folder → check → IDLE (or wait for the poll timer /
 * a trigger) → check … until the server drops it, the token is about to expire, or the watcher is
 * paused/stopped. Then the run loop reconnects with backoff.
 */
import type { ErrorKind } from '../core/errors';
import { settlesWithin } from '../core/timeout';
import { ENGINE_DEFAULTS, type Disposition, type WatchMode } from '../engine/options';
import { safely } from '../engine/reporter';
import { EngineShell, RetryBudget } from '../engine/shell';
import { CheckpointKeeper } from './checkpoint-keeper';
import { closeConnection, openConnection } from './connection';
import { DispositionQueue } from './disposition-queue';
import { toImapError } from './errors';
import { FetchPass } from './fetch-pass';
import { WatchSession, type SessionEnd } from './session';
import type { MailboxWatcherCallbacks, MailboxWatcherOptions, WatcherState, WatcherStatus } from './watcher-types';

export type {
  MailboxWatcherCallbacks, MailboxWatcherOptions, MailMeta, MailSource, WatchMode, WatcherState, WatcherStatus, WatcherWarning,
} from './watcher-types';

/** Errors that often pass by themselves; the first of a row is not reported. */
const TRANSIENT_KINDS: ReadonlySet<ErrorKind> = new Set<ErrorKind>(['network', 'timeout', 'server-error']);
const LOGOUT_TIMEOUT_MS = 1_000;
const STOP_WAIT_MS = 1_500;

/**
 * A check asked for while one runs: `check` once more, `refresh` once more after asking the server
 * (NOOP) for mail it has not announced yet.
 */
type QueuedCheck = 'none' | 'check' | 'refresh';

/**
 * Watches one mailbox folder. Create it, call `start()`, and `stop()` on close.
 *
 * @example
 * const watcher = new MailboxWatcher({ host, port: 993, mailbox, tokenSource, checkpointStore, checkpointKey }, {
 *   onMail: async (source, meta) => send(await toMessage(source, meta)),
 *   onStatus: (s) => node.status(s), onError: (e) => node.error(e.toString()),
 * });
 * watcher.start();
 */
export class MailboxWatcher {
  private readonly folder: string;
  private readonly mode: WatchMode;
  private readonly intervalMs: number;
  private readonly disposition: Disposition;
  private readonly renewMarginMs: number;
  private readonly keepAliveMs: number;
  private readonly shell: EngineShell<WatcherStatus>;
  private readonly keeper: CheckpointKeeper;
  private readonly pass: FetchPass;
  private session?: WatchSession;
  /** The check that is running (it may outlive its session by a moment), so stop() can wait for it. */
  private checkRun?: Promise<void>;
  private queued: QueuedCheck = 'none';

  constructor(private readonly options: MailboxWatcherOptions, private readonly callbacks: MailboxWatcherCallbacks) {
    this.shell = new EngineShell<WatcherStatus>(callbacks, options);
    this.folder = options.folder || 'INBOX';
    this.mode = options.mode ?? ENGINE_DEFAULTS.imap.mode;
    this.intervalMs = Math.max(1, options.intervalSec ?? ENGINE_DEFAULTS.imap.intervalSec) * 1000;
    this.disposition = options.disposition ?? ENGINE_DEFAULTS.imap.disposition;
    this.renewMarginMs = options.renewMarginMs ?? 5 * 60_000;
    this.keepAliveMs = options.keepAliveMs ?? 10 * 60_000;
    const report = this.shell.report;
    this.keeper = new CheckpointKeeper(options.checkpointStore, options.checkpointKey, this.shell.clock, (error) => report.error(error));
    const queue = new DispositionQueue(this.disposition, options.moveTo, this.keeper, (error) => report.error(error, true));
    this.pass = new FetchPass(options, {
      mailbox: options.mailbox,
      report,
      onMail: (source, meta) => callbacks.onMail(source, meta),
      onWarning: (warning) => safely(() => callbacks.onWarning?.(warning)),
      isActive: (session) => this.isActive(session),
    }, this.keeper, queue, new RetryBudget(Math.max(1, options.maxDeliveryAttempts ?? ENGINE_DEFAULTS.maxDeliveryAttempts)));
  }

  /** The last state reported through onStatus. */
  get state(): WatcherState {
    return this.shell.report.state;
  }

  /** Starts connecting and watching; returns at once (progress is reported through the callbacks). */
  start(): void {
    this.shell.start(() => this.runLoop(), (err) => this.shell.report.error(toImapError(err, { action: 'watch' })));
  }

  /**
   * Checks the folder now (any mode). Resolves when that check finished — or at once when paused
   * or stopped. While disconnected it cuts the reconnect wait short.
   */
  checkNow(): Promise<void> {
    if (!this.shell.accepting) return Promise.resolve();
    const done = this.shell.waitForCheck();
    if (this.session?.open) this.requestCheck(this.session);
    else this.shell.wake('check');
    return done;
  }

  /** Stops watching and closes the connection until `resume()`. */
  async pause(): Promise<void> {
    if (!this.shell.pause()) return;
    const session = this.session;
    if (session) await session.end('paused');
    this.shell.wake('control');
    this.shell.report.status({ state: 'paused' });
  }

  /** Reconnects and watches again after `pause()`. */
  resume(): void {
    this.shell.resume();
  }

  /**
   * Logs out (briefly), closes the connection and clears every timer. Resolves within ~3 s even
   * when a callback or the server hangs. Safe to call more than once.
   */
  stop(): Promise<void> {
    return this.shell.stop(async () => {
      const session = this.session;
      if (session) await session.end('stopped');
      // A check that was handing over a mail finishes storing the checkpoint first, so a mail that
      // was sent is not sent again after a restart; its IMAP commands fail at once on the closed socket.
      const finished = Promise.all([this.shell.loopDone, this.checkRun]).then(() => this.keeper.flush());
      await settlesWithin(finished, STOP_WAIT_MS);
    });
  }

  // ── run loop: one session after another, with backoff ──────────────────────────────────────

  private async runLoop(): Promise<void> {
    const { report, backoff } = this.shell;
    let forceRefresh = false;
    let transientFailures = 0;
    while (!this.shell.stopped) {
      if (this.shell.paused) {
        report.status({ state: 'paused' });
        await this.shell.waitForWake();
        continue;
      }
      report.status({ state: 'connecting' });
      let end: SessionEnd;
      try {
        end = await this.runSession(forceRefresh);
      } catch (err) {
        end = { reason: 'closed', error: toImapError(err, this.errorContext('connect')), healthy: false };
        this.shell.releaseWaiters();
      }
      forceRefresh = false;
      if (this.shell.stopped) break;
      if (end.healthy) backoff.reset();
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
        delay = end.healthy ? 0 : backoff.next(error.retryAfterMs);
      } else if (error && !error.retryable) {
        delay = backoff.longest(error.retryAfterMs);
      } else {
        delay = backoff.next(error?.retryAfterMs);
      }
      transientFailures = end.healthy ? 0 : transientFailures;
      const transient = error !== undefined && error.retryable && TRANSIENT_KINDS.has(error.kind);
      transientFailures = transient ? transientFailures + 1 : 0;
      const routine = end.healthy && (error?.kind === 'network' || error?.kind === 'token-expired');
      // A routine drop of a healthy connection, or one passing blip (a connection cut, a server
      // that could not check the token just then) that the next attempt may well cure, is not
      // worth a node error; a second one in a row, and everything else, is.
      if (error && !routine && (!transient || transientFailures >= 2)) {
        report.error(error);
        report.status({ state: 'error', errorKind: error.kind, detail: `${error.message} — retry in ${Math.ceil(delay / 1000)} s` });
      } else {
        report.status({ state: 'connecting', detail: 'connection lost, reconnecting' });
      }
      if (delay > 0) await this.shell.sleep(delay);
    }
  }

  private async runSession(forceRefresh: boolean): Promise<SessionEnd> {
    const opened = await openConnection({ ...this.options, lean: true }, forceRefresh);
    const client = opened.client;
    if (this.shell.halted) {
      await closeConnection(client, LOGOUT_TIMEOUT_MS);
      return { reason: this.shell.stopped ? 'stopped' : 'paused', healthy: false };
    }
    const session: WatchSession = new WatchSession(client, this.shell.clock, {
      onExists: () => {
        if (this.mode === 'idle') this.requestCheck(session, true);
      },
      onMailboxOpen: (mailbox) => {
        // A re-SELECT with a new UIDVALIDITY: re-check so the checkpoint is reconciled at once.
        const checkpoint = this.keeper.current;
        if (checkpoint && Number(mailbox.uidValidity) !== checkpoint.uidValidity) this.requestCheck(session);
      },
      onEnded: () => {
        if (this.session === session) this.session = undefined;
      },
      errorContext: (action) => this.errorContext(action),
    });
    this.session = session;
    try {
      await client.mailboxOpen(this.folder, { readOnly: this.disposition === 'none' });
    } catch (err) {
      // imapflow marks a missing folder with `mailboxMissing`; toImapError maps it to 'folder-not-found'.
      return session.end('closed', toImapError(err, this.errorContext('open folder')));
    }
    if (opened.tokenExpiresAt !== undefined) {
      session.scheduleRenewal(opened.tokenExpiresAt, this.renewMarginMs, this.options.tokenSource, this.shell.clock, () => {
        if (!this.isActive(session)) return;
        if (this.checkRun) session.state = 'renew-due';
        else void session.end('renew');
      });
    }
    if (this.mode !== 'trigger') session.timers.every(this.intervalMs, () => this.requestCheck(session));
    if (this.mode !== 'idle' && (this.mode === 'trigger' || this.intervalMs > this.keepAliveMs)) {
      session.timers.every(this.keepAliveMs, () => {
        if (!this.checkRun && session.open) client.noop().catch(() => undefined);
      });
    }
    // SELECT just told the folder's state: the first check needs no NOOP.
    this.requestCheck(session, true);
    return session.done;
  }

  private isActive(session: WatchSession): boolean {
    return session.open && this.session === session && !this.shell.halted;
  }

  // ── checks ──────────────────────────────────────────────────────────────────────────────────

  /** `announced`: the server has just told of new mail (EXISTS, SELECT), so it need not be asked (NOOP). */
  private requestCheck(session: WatchSession, announced = false): void {
    if (!this.isActive(session)) return;
    if (this.checkRun) {
      if (!announced) this.queued = 'refresh';
      else if (this.queued === 'none') this.queued = 'check';
      return;
    }
    this.checkRun = this.runChecks(session, !announced);
  }

  /** Runs checks until nothing more is waiting, then goes back to IDLE / waiting. Never rejects. */
  private async runChecks(session: WatchSession, refresh: boolean): Promise<void> {
    const report = this.shell.report;
    let delivered = 0;
    let failed = false;
    let more = false;
    try {
      // Servers show new mail to a session only after they announced it (EXISTS); a NOOP makes
      // them do so, so a poll or trigger finds mail that arrived since the last command.
      if (refresh) await session.client.noop();
      if (this.queued === 'refresh') this.queued = 'check';
      do {
        // Asked for while the last pass ran: mail may have arrived that the server has not announced.
        if (this.takeQueued() === 'refresh') await session.client.noop();
        const result = await this.pass.checkOnce(session);
        session.healthy = true;
        delivered += result.delivered;
        more = result.more;
        // Let other events (stop, pause, the socket) in between batches of a backlog.
        if (more || this.checkQueued) await new Promise<void>((resolve) => setImmediate(resolve));
      } while ((more || this.checkQueued) && this.isActive(session));
      // The check is done once its progress is stored.
      await this.keeper.flush();
      if (this.isActive(session)) report.recovered();
    } catch (err) {
      failed = true;
      const error = toImapError(err, this.errorContext('check'));
      if (this.isActive(session) && (error.kind === 'config' || error.kind === 'storage') && session.client.usable) {
        // The connection is fine; the next check tries again.
        report.error(error);
        report.status({ state: 'error', errorKind: error.kind, detail: error.message });
      } else if (session.open) {
        void session.end('closed', session.client.usable ? error : session.closeError());
      }
    } finally {
      // Also after a failed or stopped check, so stop() and the next session find it stored.
      void this.keeper.flush();
      this.checkRun = undefined;
      this.afterChecks(session, delivered, failed);
      // Every checkNow() caller so far, also those that came during this check (it ran once more for them).
      this.shell.releaseWaiters();
    }
  }

  /** What follows a check: a due renewal, IDLE and the status, a queued check, or the next session's first check. */
  private afterChecks(session: WatchSession, delivered: number, failed: boolean): void {
    if (session.state === 'renew-due' && this.isActive(session)) {
      void session.end('renew');
    } else if (this.isActive(session)) {
      this.goQuiet(session, delivered, failed);
      // An event that arrived while the last batch was being finished.
      if (this.checkQueued) this.requestCheck(session);
    } else if (this.session && this.session !== session && this.isActive(this.session)) {
      // This check outlived its session (a reconnect or resume came quickly), and the new
      // session's first check was held back meanwhile: run it now, or it would not even IDLE.
      this.requestCheck(this.session);
    }
  }

  private get checkQueued(): boolean {
    return this.queued !== 'none';
  }

  /** The queued check, which is then no longer queued. */
  private takeQueued(): QueuedCheck {
    const queued = this.queued;
    this.queued = 'none';
    return queued;
  }

  /** IDLE (in idle mode) and the status after a check. */
  private goQuiet(session: WatchSession, delivered: number, failed: boolean): void {
    const report = this.shell.report;
    const idle = this.mode === 'idle' && !session.idleRefused && session.client.capabilities.has('IDLE');
    if (idle) {
      session.startIdle(() => this.isActive(session) && !this.checkRun, () => {
        // Refused by the server: poll at `interval` instead (the interval timer is running).
        report.status({ state: 'polling', detail: 'server refused IDLE; polling' });
      });
    }
    if (failed) return;
    if (this.mode === 'idle') {
      report.status(idle
        ? { state: 'watching', newCount: delivered }
        : { state: 'polling', newCount: delivered, detail: 'server has no IDLE; polling' });
    } else if (this.mode === 'poll') {
      report.status({ state: 'polling', newCount: delivered });
    } else {
      report.status({ state: 'watching', newCount: delivered, detail: 'waiting for trigger' });
    }
  }

  private errorContext(action: string): { action: string; mailbox: string; folder: string; appOnly?: boolean } {
    return { action, mailbox: this.options.mailbox, folder: this.folder, appOnly: this.options.appOnly };
  }
}
