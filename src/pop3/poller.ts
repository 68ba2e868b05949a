/**
 * Polls one mailbox over POP3 and hands every mail over exactly once, in message-number order,
 * through `onMail`. POP3 has no IDLE, so a poll is a short session:
 *
 *   connect (implicit TLS) → AUTH XOAUTH2 → UIDL → forget UIDLs the server has not listed for a while →
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
import type { M365MailError } from '../core/errors';
import type { Clock } from '../core/clock';
import { settlesWithin } from '../core/timeout';
import { EngineShell, RetryBudget } from '../engine/shell';
import { ENGINE_DEFAULTS, type Pop3Disposition, type Pop3PollMode } from '../engine/options';
import { DEFAULT_THROTTLE_DELAY_MS, toPop3PollError, withAccountFix } from './poll-errors';
import { endSession, openSession, SessionCancelled, type Pop3SessionClient } from './poll-session';
import { DeliveryPass } from './delivery-pass';
import type { Pop3PollerCallbacks, Pop3PollerOptions, Pop3PollerState, Pop3PollerStatus } from './poller-types';
import { UidlLedger } from './uidl-ledger';

export type {
  Pop3Disposition, Pop3MailMeta, Pop3MailSource, Pop3PollerCallbacks, Pop3PollerOptions, Pop3PollerState, Pop3PollerStatus, Pop3PollMode,
} from './poller-types';
interface PollOutcome {
  delivered: number;
  /** More mail than one batch was waiting. */
  more: boolean;
  error?: M365MailError;
}

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
  private readonly shell: EngineShell<Pop3PollerStatus>;
  private readonly delivery: DeliveryPass;

  /** The last poll succeeded (a new poll then does not show "connecting"). */
  private healthy = false;
  private polling?: Promise<PollOutcome>;
  private client?: Pop3SessionClient;
  /** The session kept between the batches of a backlog (see the header). */
  private retained?: OpenSession;
  /** QUIT of a retained session under way, and its client (stop() closes it if QUIT hangs). */
  private ending?: { client: Pop3SessionClient; done: Promise<void> };
  private ledger?: UidlLedger;
  /** checkNow() was called since the current poll started: run one more. */
  private checkRequested = false;

  constructor(private readonly options: Pop3PollerOptions, private readonly callbacks: Pop3PollerCallbacks) {
    this.shell = new EngineShell<Pop3PollerStatus>(callbacks, options);
    this.mode = options.mode ?? ENGINE_DEFAULTS.pop3.mode;
    this.intervalMs = Math.max(1, options.intervalSec ?? ENGINE_DEFAULTS.pop3.intervalSec) * 1000;
    this.batchSize = Math.max(1, Math.floor(options.batchSize ?? ENGINE_DEFAULTS.batchSize));
    this.disposition = options.disposition ?? ENGINE_DEFAULTS.pop3.disposition;
    this.delivery = new DeliveryPass({
      mailbox: options.mailbox,
      disposition: this.disposition,
      onMail: (source, meta) => callbacks.onMail(source, meta),
      report: this.shell.report,
      // Failed hand-overs per UIDL; in memory, like the IMAP watcher's.
      budget: new RetryBudget(Math.max(1, options.maxDeliveryAttempts ?? ENGINE_DEFAULTS.maxDeliveryAttempts)),
      halted: () => this.shell.halted,
    });
  }

  /** The last state reported through onStatus. */
  get state(): Pop3PollerState {
    return this.shell.report.state;
  }

  private get report(): EngineShell<Pop3PollerStatus>['report'] {
    return this.shell.report;
  }

  private get clock(): Clock {
    return this.shell.clock;
  }

  /**
   * Starts polling: in `poll` mode the first poll runs at once, in `trigger` mode on the first
   * checkNow(). Progress is reported through the callbacks.
   */
  start(): void {
    this.shell.start(() => this.runLoop(), (error: unknown) => this.report.error(toPop3PollError(error)));
  }

  /**
   * Polls now (any mode). Resolves when a poll that started after this call has finished — so a
   * call during a poll queues one more — or at once when paused, stopped or not started. While the
   * server throttles, the poll waits until the server's delay has passed.
   */
  checkNow(): Promise<void> {
    if (!this.shell.accepting) return Promise.resolve();
    const done = this.shell.waitForCheck();
    this.checkRequested = true;
    this.shell.wake('check');
    return done;
  }

  /** Stops polling until `resume()`; a running poll finishes its current mail and QUITs. */
  async pause(): Promise<void> {
    if (!this.shell.pause()) return;
    await this.finishCurrentPoll();
    await this.finishRetainedSession();
    if (this.shell.paused && this.report.state !== 'paused') this.report.status({ state: 'paused' });
  }

  /** Polls again after `pause()` (in `poll` mode at once). */
  resume(): void {
    this.shell.resume();
  }

  /**
   * Ends polling: a running poll gets a moment to finish its mail and QUIT, then the connection
   * is closed; timers are cleared and the UIDL record saved. Resolves within ~3.5 s even when a
   * callback or the server hangs. Safe to call more than once.
   */
  stop(): Promise<void> {
    return this.shell.stop(async () => {
      await this.finishCurrentPoll();
      await this.finishRetainedSession();
      await settlesWithin(this.shell.loopDone, CLOSE_WAIT_MS);
      this.shell.timers.clear();
      if (this.ledger) await settlesWithin(this.ledger.close(), LEDGER_CLOSE_MS);
    });
  }

  // ── run loop: one poll after another ───────────────────────────────────────────────────────

  private async runLoop(): Promise<void> {
    let forceRefresh = false;
    // Poll mode polls at once; trigger mode waits for the first checkNow().
    let pollDue = this.mode === 'poll';
    while (!this.shell.stopped) {
      if (this.shell.paused) {
        await this.endRetainedSession();
        if (this.report.state !== 'paused') this.report.status({ state: 'paused' });
        await this.shell.waitForWake();
        pollDue = this.mode === 'poll';
        continue;
      }
      if (!pollDue && !this.checkRequested) {
        await this.shell.waitForWake();
        continue;
      }
      pollDue = false;
      // A checkNow() asks for what is on the server now: a kept session's listing is older.
      const fresh = this.checkRequested;
      this.checkRequested = false;
      this.shell.beginCheck();
      this.polling = this.pollOnce(forceRefresh, fresh);
      const outcome = await this.polling;
      this.polling = undefined;
      forceRefresh = false;
      this.shell.endCheck();
      if (this.shell.stopped) break;
      if (this.shell.paused) continue;

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
          await this.shell.sleep(wait.ms, !wait.hold);
          pollDue = true;
        }
        continue;
      }

      this.healthy = true;
      this.shell.backoff.reset();
      this.report.recovered();
      this.report.status(this.mode === 'poll'
        ? { state: 'polling', newCount: outcome.delivered }
        : { state: 'watching', newCount: outcome.delivered, detail: 'waiting for trigger' });
      if (outcome.more || this.checkRequested) {
        // A backlog or a queued check: go on at once, but let stop/pause and I/O in first.
        await new Promise<void>((resolve) => setImmediate(resolve));
        pollDue = true;
      } else if (this.mode === 'poll') {
        await this.shell.sleep(this.intervalMs, true);
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
    const backoff = this.shell.backoff;
    if (error.kind === 'throttled') return { ms: backoff.next(hint ?? DEFAULT_THROTTLE_DELAY_MS), hold: true };
    if (error.retryable || error.kind === 'token-expired') {
      const ms = backoff.next(hint);
      // Never later than the next regular poll would have been.
      return { ms: this.mode === 'poll' ? Math.min(ms, Math.max(this.intervalMs, hint ?? 0)) : ms, hold: false };
    }
    // Retrying soon will not fix this (e.g. a refused login): try again at the regular pace.
    const longest = backoff.longest(hint);
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
        const result = await this.delivery.deliverBatch(client, session.sizes, ledger, batch);
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

  /** Connects, signs in and lists; forgets what is provably gone (see UidlLedger.prune); delete: DELE leftovers. */
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
      if (this.disposition === 'delete') await this.delivery.deleteLeftovers(client, session.listing, ledger);
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

  private async openLedger(): Promise<UidlLedger> {
    this.ledger ??= await UidlLedger.open(this.options.uidlStore, this.options.uidlKey);
    return this.ledger;
  }

  /** Saves the UIDL record; a failure is reported (the record stays dirty and is saved next time). */
  private async saveLedger(ledger: UidlLedger): Promise<void> {
    const failure = await ledger.save();
    if (failure) this.report.error(failure);
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
    return this.shell.halted;
  }
}
