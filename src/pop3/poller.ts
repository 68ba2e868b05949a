/**
 * Polls one mailbox over POP3 and hands every mail over exactly once, in message-number order,
 * through `onMail`. POP3 has no IDLE, so a poll is a short session:
 *
 *   connect (implicit TLS) → AUTH XOAUTH2 → UIDL → forget UIDLs the server no longer lists →
 *   [delete: DELE mails handed over earlier whose session broke before QUIT] →
 *   RETR + onMail for at most `batchSize` unseen mails (each UIDL recorded once onMail resolved;
 *   delete: DELE right after) → save the UIDL record → QUIT.
 *
 * A backlog larger than one batch is drained batch after batch in the same session (the listing
 * stays valid until QUIT): no new TLS, sign-in and listing per batch. With `delete` the session
 * still QUITs once it is older than DELETE_COMMIT_MS, since only QUIT makes deletions happen; a
 * checkNow() gets a fresh session, which sees mail that arrived meanwhile. Between batches the
 * record is saved without waiting; before every QUIT (and on stop) it is saved and awaited.
 *
 * While one mail is handed over, the RETR of the next is already sent (pipelined when the server
 * announces PIPELINING): the server prepares the next mail while this one is parsed. Answers still
 * come in order, and the next mail is only read as far as its stream buffers, so memory stays flat.
 *
 * The server removes DELE'd mail only on a clean QUIT; a broken session removes nothing, and the
 * recorded UIDLs keep those mails from being emitted again. Polls never overlap. The poller owns
 * retrying (backoff, throttling, one fresh token after a refused login). Knows nothing of Node-RED.
 */
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { M365MailError, isM365MailError, type ErrorKind } from '../core/errors';
import { systemClock, TimerSet, type Clock } from '../core/clock';
import { EngineReporter, safely } from '../util/engine-reporter';
import type { CheckpointStore } from '../state/checkpoint-store';
import { UidlSet } from '../state/uidl-set';
import { Backoff, type BackoffOptions } from '../core/backoff';
import { DEFAULT_THROTTLE_DELAY_MS, toPop3PollError, withAccountFix } from './poll-errors';
import { endSession, openSession, SessionCancelled, type Pop3SessionClient, type Pop3SessionSettings } from './poll-session';
import { UidlLedger } from './uidl-ledger';

export type Pop3PollMode = 'poll' | 'trigger';
export type Pop3Disposition = 'keep' | 'delete';
export type Pop3PollerState = 'connecting' | 'polling' | 'fetching' | 'watching' | 'paused' | 'error' | 'stopped';

export interface Pop3PollerStatus {
  state: Pop3PollerState;
  detail?: string;
  /** Mails handed over by the poll that just finished (or waiting, while fetching). */
  newCount?: number;
  errorKind?: ErrorKind;
}

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

export interface Pop3PollerCallbacks {
  /** Builds and sends the message. The mail counts as handed over when this resolves. */
  onMail(source: Pop3MailSource, meta: Pop3MailMeta): Promise<void>;
  onStatus?(status: Pop3PollerStatus): void;
  onError?(error: M365MailError): void;
}

export interface Pop3PollerOptions extends Pop3SessionSettings {
  /** Whether the account uses an app-only flow (makes fix texts of refused logins concrete). */
  appOnly?: boolean;
  /** Where the record of handed-over UIDLs lives, under `uidlKey` (chosen by the node). */
  uidlStore: CheckpointStore;
  uidlKey: string;
  /** `poll` (default): every `intervalSec`; `trigger`: only on checkNow(). */
  mode?: Pop3PollMode;
  /** Seconds between polls; default 300. */
  intervalSec?: number;
  /** Most mails handed over per poll; a backlog drains poll after poll without waiting. Default 100. */
  batchSize?: number;
  /** `keep` (default) leaves mail on the server; `delete` removes mail once it was handed over. */
  disposition?: Pop3Disposition;
  /** A mail whose onMail keeps failing is skipped after this many attempts. Default 3. */
  maxDeliveryAttempts?: number;
  backoff?: BackoffOptions;
  clock?: Clock;
}

interface PollOutcome {
  delivered: number;
  /** More mail than one batch was waiting. */
  more: boolean;
  error?: M365MailError;
}

type DeliveryOutcome = 'delivered' | 'skipped' | 'retry-later';
type WakeReason = 'check' | 'control';

/** A signed-in session, kept from one batch to the next while its listing still holds unhandled mail. */
interface OpenSession {
  client: Pop3SessionClient;
  /** [message number, UIDL] as listed when the session began, in message-number order. */
  listing: Array<[number, string]>;
  /** Sizes from LIST, fetched once per session when there is mail to hand over. */
  sizes?: Map<number, number>;
  /** When the session signed in (by the poller's clock). */
  openedAt: number;
}

const QUIT_TIMEOUT_MS = 1_000;
/** With `delete`, a session goes on with the next batch only while younger than this: deletions wait at most this long (+ one batch). */
const DELETE_COMMIT_MS = 10_000;
/** How long stop/pause lets a running poll finish its mail and QUIT before closing the socket. */
const STOP_GRACE_MS = 1_500;
const CLOSE_WAIT_MS = 500;
const LEDGER_CLOSE_MS = 1_000;

/**
 * Polls one POP3 mailbox. Create it, call `start()`, and `stop()` on close.
 *
 * @example
 * const poller = new Pop3Poller({ host, port: 995, mailbox, tokenSource, uidlStore, uidlKey: node.id }, {
 *   onMail: async (source, meta) => send(await toMessage(source, meta)),
 *   onStatus: (s) => showStatus(s), onError: (e) => node.error(e.toString(), {}),
 * });
 * poller.start();
 */
export class Pop3Poller {
  private readonly mode: Pop3PollMode;
  private readonly intervalMs: number;
  private readonly batchSize: number;
  private readonly disposition: Pop3Disposition;
  private readonly maxDeliveryAttempts: number;
  private readonly clock: Clock;
  private readonly timers: TimerSet;
  private readonly backoff: Backoff;
  /** Failed hand-overs per UIDL; in memory, like the IMAP watcher's. */
  private readonly failedDeliveries = new Map<string, number>();

  private started = false;
  private stopped = false;
  private paused = false;
  /** The last poll succeeded (a new poll then does not show "connecting"). */
  private healthy = false;
  private stopPromise?: Promise<void>;
  private loopDone: Promise<void> = Promise.resolve();
  private polling?: Promise<PollOutcome>;
  private client?: Pop3SessionClient;
  /** The session kept between the batches of a backlog (see the header). */
  private retained?: OpenSession;
  /** QUIT of a retained session under way, and its client (stop() closes it if QUIT hangs). */
  private ending?: { client: Pop3SessionClient; done: Promise<void> };
  private ledger?: UidlLedger;
  private wakeLoop?: (reason: WakeReason) => void;
  /** checkNow() was called since the current poll started: run one more. */
  private checkRequested = false;
  /** checkNow() callers served by the next poll, and by the running one. */
  private queuedWaiters: Array<() => void> = [];
  private activeWaiters: Array<() => void> = [];
  private readonly report: EngineReporter<Pop3PollerStatus>;

  constructor(private readonly options: Pop3PollerOptions, private readonly callbacks: Pop3PollerCallbacks) {
    this.report = new EngineReporter<Pop3PollerStatus>(callbacks, 'stopped', () => this.stopped);
    this.mode = options.mode ?? 'poll';
    this.intervalMs = Math.max(1, options.intervalSec ?? 300) * 1000;
    this.batchSize = Math.max(1, Math.floor(options.batchSize ?? 100));
    this.disposition = options.disposition ?? 'keep';
    this.maxDeliveryAttempts = Math.max(1, options.maxDeliveryAttempts ?? 3);
    this.clock = options.clock ?? systemClock;
    this.timers = new TimerSet(this.clock);
    this.backoff = new Backoff(options.backoff);
  }

  /** The last state reported through onStatus. */
  get state(): Pop3PollerState {
    return this.report.state;
  }

  /**
   * Starts polling: in `poll` mode the first poll runs at once, in `trigger` mode on the first
   * checkNow(). Progress is reported through the callbacks.
   */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.loopDone = this.runLoop().catch((error: unknown) => this.report.error(toPop3PollError(error)));
  }

  /**
   * Polls now (any mode). Resolves when a poll that started after this call has finished — so a
   * call during a poll queues one more — or at once when paused, stopped or not started. While the
   * server throttles, the poll waits until the server's delay has passed.
   */
  checkNow(): Promise<void> {
    if (!this.started || this.stopped || this.paused) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.queuedWaiters.push(resolve));
    this.checkRequested = true;
    this.wake('check');
    return done;
  }

  /** Stops polling until `resume()`; a running poll finishes its current mail and QUITs. */
  async pause(): Promise<void> {
    if (this.stopped || this.paused) return;
    this.paused = true;
    this.releaseWaiters();
    this.wake('control');
    await this.finishCurrentPoll();
    await this.finishRetainedSession();
    if (!this.stopped && this.paused && this.report.state !== 'paused') this.report.status({ state: 'paused' });
  }

  /** Polls again after `pause()` (in `poll` mode at once). */
  resume(): void {
    if (this.stopped || !this.paused) return;
    this.paused = false;
    this.wake('control');
  }

  /**
   * Ends polling: a running poll gets a moment to finish its mail and QUIT, then the connection
   * is closed; timers are cleared and the UIDL record saved. Resolves within ~3.5 s even when a
   * callback or the server hangs. Safe to call more than once.
   */
  stop(): Promise<void> {
    this.stopPromise ??= (async () => {
      this.stopped = true;
      this.releaseWaiters();
      this.wake('control');
      await this.finishCurrentPoll();
      await this.finishRetainedSession();
      await settlesWithin(this.loopDone, CLOSE_WAIT_MS);
      this.timers.clear();
      if (this.ledger) await settlesWithin(this.ledger.close().catch(() => undefined), LEDGER_CLOSE_MS);
      this.report.final({ state: 'stopped' });
    })();
    return this.stopPromise;
  }

  // ── run loop: one poll after another ───────────────────────────────────────────────────────

  private async runLoop(): Promise<void> {
    let forceRefresh = false;
    // Poll mode polls at once; trigger mode waits for the first checkNow().
    let pollDue = this.mode === 'poll';
    while (!this.stopped) {
      if (this.paused) {
        await this.endRetainedSession();
        if (this.report.state !== 'paused') this.report.status({ state: 'paused' });
        await this.waitForWake();
        pollDue = this.mode === 'poll';
        continue;
      }
      if (!pollDue && !this.checkRequested) {
        await this.waitForWake();
        continue;
      }
      pollDue = false;
      // A checkNow() asks for what is on the server now: a kept session's listing is older.
      const fresh = this.checkRequested;
      this.checkRequested = false;
      this.activeWaiters = this.queuedWaiters;
      this.queuedWaiters = [];
      this.polling = this.pollOnce(forceRefresh, fresh);
      const outcome = await this.polling;
      this.polling = undefined;
      forceRefresh = false;
      this.resolveActiveWaiters();
      if (this.stopped) break;
      if (this.paused) continue;

      if (outcome.error) {
        const error = outcome.error;
        forceRefresh = error.kind === 'token-expired';
        this.healthy = false;
        const wait = this.retryWait(error);
        this.report.error(error);
        this.report.status({
          state: 'error',
          errorKind: error.kind,
          detail: wait.ms === undefined ? `${error.message} — waiting for a trigger` : `${error.message} — retry in ${Math.ceil(wait.ms / 1000)} s`,
        });
        if (wait.ms !== undefined) {
          await this.sleep(wait.ms, !wait.hold);
          pollDue = true;
        }
        continue;
      }

      this.healthy = true;
      this.backoff.reset();
      this.report.recovered();
      this.report.status(this.mode === 'poll'
        ? { state: 'polling', newCount: outcome.delivered }
        : { state: 'watching', newCount: outcome.delivered, detail: 'waiting for trigger' });
      if (outcome.more || this.checkRequested) {
        // A backlog or a queued check: go on at once, but let stop/pause and I/O in first.
        await new Promise<void>((resolve) => setImmediate(resolve));
        pollDue = true;
      } else if (this.mode === 'poll') {
        await this.sleep(this.intervalMs, true);
        pollDue = true;
      }
    }
    await this.endRetainedSession();
  }

  /**
   * How long to wait after a failed poll. `hold`: the server asked for the pause (throttling), so
   * a checkNow() does not cut it short. No `ms`: wait for the next trigger.
   */
  private retryWait(error: M365MailError): { ms?: number; hold: boolean } {
    const hint = error.retryAfterMs;
    if (error.kind === 'throttled') return { ms: this.backoff.next(hint ?? DEFAULT_THROTTLE_DELAY_MS), hold: true };
    if (error.retryable || error.kind === 'token-expired') {
      const ms = this.backoff.next(hint);
      // Never later than the next regular poll would have been.
      return { ms: this.mode === 'poll' ? Math.min(ms, Math.max(this.intervalMs, hint ?? 0)) : ms, hold: false };
    }
    // Retrying soon will not fix this (e.g. a refused login): try again at the regular pace.
    const longest = this.backoff.longest(hint);
    return this.mode === 'poll' ? { ms: Math.max(this.intervalMs, longest), hold: false } : { hold: false };
  }

  // ── one poll = one batch, in a new session or the one kept from the batch before ──────────

  /** Runs one batch; never rejects (a failure is returned as `error`). */
  private async pollOnce(forceRefresh: boolean, fresh: boolean): Promise<PollOutcome> {
    let session: OpenSession | undefined;
    let delivered = 0;
    try {
      const ledger = await this.openLedger();
      // A new session waits until the QUIT of the one before went through.
      if (fresh || !this.retained || this.retained.client.closed) await this.endRetainedSession();
      session = this.retained ?? await this.startSession(forceRefresh, ledger);
      this.retained = undefined;
      const { client } = session;
      this.client = client;

      const waiting = session.listing.filter(([, uidl]) => !ledger.isHandled(uidl));
      const batch = waiting.slice(0, this.batchSize);
      let more = waiting.length > batch.length;
      if (batch.length > 0 && !this.halted()) {
        this.report.status({ state: 'fetching', newCount: waiting.length });
        session.sizes ??= await client.list();
        const result = await this.deliverBatch(session, ledger, batch);
        delivered = result.delivered;
        if (result.retryLater) more = false;
      }
      more = more && !this.halted();
      const summary = `POP3 poll of ${this.options.mailbox}: ${session.listing.length} listed, ${waiting.length} new, ${delivered} handed over`;
      if (more && this.mayContinue(session)) {
        // Durable soon, without waiting; the QUIT that ends the session waits for it.
        this.retained = session;
        void this.saveLedger(ledger);
        this.options.logger?.debug?.(summary);
        return { delivered, more };
      }
      // Recorded before QUIT: once the server deleted mail, the record must already say so.
      await this.saveLedger(ledger);
      const quitConfirmed = await endSession(client, QUIT_TIMEOUT_MS);
      this.options.logger?.debug?.(`${summary}${quitConfirmed ? '' : '; QUIT not confirmed'}`);
      return { delivered, more };
    } catch (error) {
      session?.client.close();
      // Mails handed over before the break stay recorded, so they are not emitted again.
      if (this.ledger) await this.saveLedger(this.ledger);
      if (error instanceof SessionCancelled || this.halted()) return { delivered, more: false };
      return { delivered, more: false, error: withAccountFix(toPop3PollError(error), this.options.appOnly) };
    } finally {
      this.client = undefined;
    }
  }

  /** Connects, signs in and lists; forgets what the server no longer lists; delete: DELE leftovers. */
  private async startSession(forceRefresh: boolean, ledger: UidlLedger): Promise<OpenSession> {
    if (!this.healthy) this.report.status({ state: 'connecting' });
    const client = await openSession(this.options, {
      forceRefresh,
      onClient: (opened) => { this.client = opened; },
      isCancelled: () => this.halted(),
    });
    const session: OpenSession = { client, listing: [], openedAt: this.clock.now() };
    try {
      const listing = await client.uidl();
      ledger.prune(listing.values());
      session.listing = [...listing].sort(([a], [b]) => a - b);
      if (this.disposition === 'delete') await this.deleteLeftovers(client, session.listing, ledger);
      return session;
    } catch (error) {
      client.close();
      throw error;
    }
  }

  /** Whether the next batch may use this session instead of QUIT and a new one. */
  private mayContinue(session: OpenSession): boolean {
    if (session.client.closed) return false;
    // Deletions happen only at QUIT: do not let them wait for a whole backlog.
    return this.disposition === 'keep' || this.clock.now() - session.openedAt < DELETE_COMMIT_MS;
  }

  /**
   * Hands over `batch` in order. The RETR of the next mail is sent while the current one is handed
   * over; DELEs are not waited for one by one (their answers queue behind that RETR) but all
   * before the batch ends. Throws when the connection broke or a DELE failed for good.
   */
  private async deliverBatch(session: OpenSession, ledger: UidlLedger, batch: Array<[number, string]>): Promise<{ delivered: number; retryLater: boolean }> {
    const { client } = session;
    const deletions = new PendingDeletions();
    let delivered = 0;
    let retryLater = false;
    let next: Promise<Readable> | undefined = retrAhead(client, batch[0][0]);
    for (let i = 0; i < batch.length; i++) {
      const [msgno, uidl] = batch[i];
      const current = next as Promise<Readable>;
      next = undefined;
      deletions.throwIfFailed();
      if (this.halted()) {
        // Its RETR is already sent: read the answer, so the session can still QUIT cleanly.
        await discard(current);
        break;
      }
      const source = await current;
      if (i + 1 < batch.length) next = retrAhead(client, batch[i + 1][0]);
      const outcome = await this.deliver(client, ledger, deletions, msgno, uidl, session.sizes?.get(msgno) ?? 0, source);
      if (outcome === 'retry-later') {
        retryLater = true;
        if (next) await discard(next);
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
    const meta: Pop3MailMeta = { uidl, msgno, size, mailbox: this.options.mailbox };
    try {
      await this.callbacks.onMail(source, meta);
    } catch (error) {
      // Read what the callback left so the session can go on. If the connection broke, this
      // throws: the poll ends, and the failure is not held against the mail.
      await drain(source);
      if (this.halted()) return 'retry-later';
      return this.deliveryFailed(ledger, msgno, uidl, error);
    }
    ledger.markDelivered(uidl);
    this.failedDeliveries.delete(uidl);
    await drain(source);
    if (this.disposition === 'delete') deletions.add(this.markForDeletion(client, msgno, uidl));
    return 'delivered';
  }

  private deliveryFailed(ledger: UidlLedger, msgno: number, uidl: string, error: unknown): DeliveryOutcome {
    const attempts = (this.failedDeliveries.get(uidl) ?? 0) + 1;
    const giveUp = attempts >= this.maxDeliveryAttempts;
    const cause = isM365MailError(error) ? error : undefined;
    const reason = error instanceof Error ? error.message : String(error);
    this.report.error(new M365MailError(
      `Handing over POP3 mail ${uidl} (message ${msgno}) failed (attempt ${attempts} of ${this.maxDeliveryAttempts})`
        + `${giveUp ? '; skipping it' : '; will retry on the next poll'}: ${reason}`,
      { kind: cause?.kind ?? 'unknown', fix: cause?.fix, retryable: !giveUp, cause: error },
    ), true);
    if (!giveUp) {
      this.failedDeliveries.set(uidl, attempts);
      return 'retry-later';
    }
    this.failedDeliveries.delete(uidl);
    ledger.markSkipped(uidl);
    return 'skipped';
  }

  /**
   * DELE for mails handed over in an earlier session that ended before QUIT (the server kept
   * them). Skipped mails are never deleted: they were not handed over.
   */
  private async deleteLeftovers(client: Pop3SessionClient, listing: Array<[number, string]>, ledger: UidlLedger): Promise<void> {
    const deletions = new PendingDeletions();
    for (const [msgno, uidl] of listing) {
      if (this.halted()) break;
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
      this.report.error(new M365MailError(
        `Could not delete POP3 mail ${uidl} (message ${msgno}); trying again on the next poll: ${error instanceof Error ? error.message : String(error)}`,
        { kind: 'disposition-failed', retryable: true, cause: error },
      ));
    }
  }

  private async openLedger(): Promise<UidlLedger> {
    if (!this.ledger) {
      try {
        this.ledger = new UidlLedger(await UidlSet.open(this.options.uidlStore, this.options.uidlKey));
      } catch (error) {
        throw isM365MailError(error) ? error : new M365MailError('Could not read the list of POP3 mails already emitted', {
          kind: 'storage', retryable: true, cause: error, fix: 'Check that the Node-RED user directory is readable and writable.',
        });
      }
    }
    return this.ledger;
  }

  /** Saves the UIDL record; a failure is reported (the record stays dirty and is saved next time). */
  private async saveLedger(ledger: UidlLedger): Promise<void> {
    try {
      await ledger.flush();
    } catch (error) {
      this.report.error(isM365MailError(error) ? error : new M365MailError('Could not save the list of POP3 mails already emitted; after a restart some mail may be emitted again', {
        kind: 'storage', cause: error, fix: 'Check free disk space and permissions of the Node-RED user directory.',
      }));
    }
  }

  /** QUITs the session kept between batches (the record saved first). Shared by the loop and stop(). */
  private endRetainedSession(): Promise<void> {
    const session = this.retained;
    if (!session) return this.ending?.done ?? Promise.resolve();
    this.retained = undefined;
    const done = (async () => {
      if (this.ledger) await this.saveLedger(this.ledger);
      await endSession(session.client, QUIT_TIMEOUT_MS);
    })();
    const ending = { client: session.client, done };
    this.ending = ending;
    void done.finally(() => {
      if (this.ending === ending) this.ending = undefined;
    });
    return done;
  }

  /** On stop: ends a kept session like a poll ends, and closes it when that takes too long. */
  private async finishRetainedSession(): Promise<void> {
    const done = this.endRetainedSession();
    const client = this.ending?.client;
    if (!(await settlesWithin(done, STOP_GRACE_MS))) client?.close();
  }

  /** Lets a running poll finish its mail and QUIT; closes the connection when that takes too long. */
  private async finishCurrentPoll(): Promise<void> {
    const polling = this.polling;
    if (!polling) return;
    if (await settlesWithin(polling, STOP_GRACE_MS)) return;
    this.client?.close();
    await settlesWithin(polling, CLOSE_WAIT_MS);
  }

  // ── helpers ─────────────────────────────────────────────────────────────────────────────────

  private halted(): boolean {
    return this.stopped || this.paused;
  }

  private resolveActiveWaiters(): void {
    const waiters = this.activeWaiters;
    this.activeWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Resolves every checkNow() caller (on pause and stop). */
  private releaseWaiters(): void {
    this.resolveActiveWaiters();
    const queued = this.queuedWaiters;
    this.queuedWaiters = [];
    for (const resolve of queued) resolve();
  }

  /** Waits `ms`; stop/pause end the wait early, and a checkNow() too when `checkCutsShort`. */
  private sleep(ms: number, checkCutsShort: boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      const cancel = this.timers.once(ms, () => {
        this.wakeLoop = undefined;
        resolve();
      });
      this.wakeLoop = (reason) => {
        if (reason === 'check' && !checkCutsShort) return;
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

  private wake(reason: WakeReason): void {
    this.wakeLoop?.(reason);
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
async function discard(answer: Promise<Readable>): Promise<void> {
  try {
    await drain(await answer);
  } catch {
    // The session is broken; QUIT will say so.
  }
}

/**
 * DELEs sent and not yet answered. Their answers queue behind the RETR sent ahead, so they are
 * awaited together at the end of a batch; a failure that ends the poll (see markForDeletion) is
 * kept and thrown at the next mail or at the end.
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

/** Resolves true when `promise` settled within `ms`, false otherwise; never rejects. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise.then(() => true, () => true),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), ms); }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}
