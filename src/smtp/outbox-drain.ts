/**
 * Sends what is in one node's outbox, oldest first, one mail at a time through the mailbox's
 * sender. A mail leaves the outbox only after the server's 250 (then `onSent`) or a permanent
 * refusal of that mail (then `onRefused`). Anything else (server down, dropped connection, token
 * trouble, throttling, a refused login) keeps the mail where it is and tries again after a backoff
 * with jitter that honours the server's throttling hint; a failure that waiting alone will not
 * fix (a refused login) waits the longest delay and is reported once until it changes.
 * Lifecycle, waits, backoff and the once-per-kind reporting are the engine shell's (engine/shell.ts).
 */
import type { BackoffOptions } from '../core/backoff';
import type { Clock } from '../core/clock';
import type { ErrorKind, M365MailError } from '../core/errors';
import { EngineShell } from '../engine/shell';
import type { SmtpEnvelope } from './compile';
import { SmtpSendError } from './mailbox-sender';
import type { Outbox, OutboxMail } from './outbox';
import type { SmtpSendInfo } from './smtp-session';

export interface MailSender {
  /** Rejects without sending when `signal` is aborted before the mail went out. */
  send(envelope: SmtpEnvelope, raw: Buffer, pace: number, signal?: AbortSignal): Promise<SmtpSendInfo>;
}

export type DrainState = 'idle' | 'sending' | 'retrying' | 'stopped';

export interface DrainStatus {
  state: DrainState;
  /** Mails in the outbox. */
  queued: number;
  /** Why it is retrying. */
  errorKind?: ErrorKind;
}

export interface DrainEvents {
  onSent(mail: OutboxMail, info: SmtpSendInfo): void;
  onRefused(mail: OutboxMail, error: M365MailError): void;
  /** A failure that keeps the mail queued; `delayMs` until the next try. Reported when its kind changes. */
  onRetry(error: M365MailError, delayMs: number): void;
  onStatus(status: DrainStatus): void;
  /** A mail file that cannot be read was set aside. */
  onDamaged(seq: number, error: M365MailError): void;
}

export interface DrainOptions {
  outbox: Outbox;
  sender: MailSender;
  /** Most mails a minute; 0 = no pacing. */
  pace: number;
  events: DrainEvents;
  clock?: Clock;
  backoff?: BackoffOptions;
}

export class OutboxDrain {
  private readonly shell: EngineShell<{ state: DrainState }>;
  /** The wait before the next try, for the retry just reported. */
  private retryDelayMs = 0;
  private readonly abort = new AbortController();
  /** The next mail, being read while the current one is sent. */
  private ahead?: { seq: number; mail: Promise<OutboxMail> };

  constructor(private readonly options: DrainOptions) {
    // Status goes out directly (it carries the queue length); the reporter only says a failure
    // once per kind and code until a mail goes out again.
    this.shell = new EngineShell<{ state: DrainState }>(
      { onError: (error) => options.events.onRetry(error, this.retryDelayMs) },
      { clock: options.clock, backoff: options.backoff, errorKey: (error) => `${error.kind}:${error.code ?? ''}` },
    );
    options.outbox.onAdded(() => this.kick());
  }

  /** Starts sending what is queued. */
  start(): void {
    this.shell.start(() => this.run(), (error) => { throw error; });
  }

  /** New mail: wake up if idle (a backoff wait is not cut short). */
  kick(): void {
    this.shell.wake('check');
  }

  private status(state: DrainState, errorKind?: ErrorKind): void {
    this.options.events.onStatus({ state, queued: this.options.outbox.size, errorKind });
  }

  private async run(): Promise<void> {
    const { outbox, events } = this.options;
    while (!this.shell.stopped) {
      const seq = outbox.peek();
      if (seq === undefined) {
        this.status('idle');
        await this.waitForWork();
        continue;
      }
      let mail: OutboxMail;
      try {
        // The next mail is read while this one is sent (see below), so reading costs no time.
        const ahead = this.ahead?.seq === seq ? this.ahead.mail : undefined;
        this.ahead = undefined;
        mail = await (ahead ?? outbox.load(seq));
      } catch (error) {
        await outbox.setAside(seq);
        events.onDamaged(seq, error as M365MailError);
        continue;
      }
      if (!this.shell.report.troubled) this.status('sending');
      const next = outbox.peekAfter(seq);
      if (next !== undefined) {
        const load = outbox.load(next);
        load.catch(() => undefined); // a failed read is handled when it is that mail's turn
        this.ahead = { seq: next, mail: load };
      }
      try {
        const info = await this.options.sender.send(mail.envelope, mail.raw, this.options.pace, this.abort.signal);
        // Accepted: it leaves the outbox even when the node is closing meanwhile.
        await outbox.remove(seq);
        this.shell.backoff.reset();
        if (this.shell.stopped) break;
        if (this.shell.report.troubled) {
          this.shell.report.recovered();
          this.status('sending');
        }
        events.onSent(mail, info);
      } catch (error) {
        if (this.shell.stopped) break;
        const failure = error instanceof SmtpSendError ? error.failure : { scope: 'session' as const, error: error as M365MailError };
        if (failure.scope === 'mail') {
          await outbox.remove(seq);
          events.onRefused(mail, failure.error);
          continue;
        }
        const { backoff } = this.shell;
        const delay = failure.error.retryable ? backoff.next(failure.error.retryAfterMs) : backoff.longest(failure.error.retryAfterMs);
        this.retryDelayMs = delay;
        this.shell.report.error(failure.error);
        this.status('retrying', failure.error.kind);
        // New mail does not cut a backoff wait short; retryNow() and stop() do.
        await this.shell.sleep(delay, false);
      }
    }
    this.status('stopped');
  }

  private waitForWork(): Promise<void> {
    const woken = this.shell.waitForWake();
    if (this.options.outbox.peek() !== undefined || this.shell.stopped) this.shell.wake('check');
    return woken;
  }

  /** Try now, without waiting out a backoff (e.g. after the user fixed something and redeployed). */
  retryNow(): void {
    this.shell.wake('control');
  }

  /** Stops after the mail in flight; that mail stays queued unless the server already accepted it. */
  stop(): Promise<void> {
    return this.shell.stop(async () => {
      this.abort.abort();
      await this.shell.loopDone;
    });
  }
}
