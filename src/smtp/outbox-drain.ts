/**
 * Sends what is in one node's outbox, oldest first, one mail at a time through the mailbox's
 * sender. A mail leaves the outbox only after the server's 250 (then `onSent`) or a permanent
 * refusal of that mail (then `onRefused`). Anything else (server down, dropped connection, token
 * trouble, throttling, a refused login) keeps the mail where it is and tries again after a backoff
 * with jitter that honours the server's throttling hint; a failure that waiting alone will not
 * fix (a refused login) waits the longest delay and is reported once until it changes.
 */
import { Backoff, type BackoffOptions } from '../core/backoff';
import { systemClock, type Clock } from '../core/clock';
import { M365MailError, type ErrorKind } from '../core/errors';
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
  private running = false;
  private stopped = false;
  private wake?: () => void;
  private sleepHandle?: unknown;
  private readonly backoff: Backoff;
  private readonly clock: Clock;
  private lastReportedKind?: string;
  private loop?: Promise<void>;
  private readonly abort = new AbortController();
  /** The next mail, being read while the current one is sent. */
  private ahead?: { seq: number; mail: Promise<OutboxMail> };

  constructor(private readonly options: DrainOptions) {
    this.clock = options.clock ?? systemClock;
    this.backoff = new Backoff(options.backoff);
    options.outbox.onAdded(() => this.kick());
  }

  /** Starts sending what is queued. */
  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.loop = this.run();
  }

  /** New mail: wake up if idle (a backoff wait is not cut short). */
  kick(): void {
    if (this.sleepHandle === undefined) this.wake?.();
  }

  private status(state: DrainState, errorKind?: ErrorKind): void {
    this.options.events.onStatus({ state, queued: this.options.outbox.size, errorKind });
  }

  private async run(): Promise<void> {
    const { outbox, events } = this.options;
    while (!this.stopped) {
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
      if (this.lastReportedKind === undefined) this.status('sending');
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
        this.backoff.reset();
        if (this.stopped) break;
        if (this.lastReportedKind !== undefined) {
          this.lastReportedKind = undefined;
          this.status('sending');
        }
        events.onSent(mail, info);
      } catch (error) {
        if (this.stopped) break;
        const failure = error instanceof SmtpSendError ? error.failure : { scope: 'session' as const, error: error as M365MailError };
        if (failure.scope === 'mail') {
          await outbox.remove(seq);
          events.onRefused(mail, failure.error);
          continue;
        }
        const delay = failure.error.retryable ? this.backoff.next(failure.error.retryAfterMs) : this.backoff.longest(failure.error.retryAfterMs);
        const key = `${failure.error.kind}:${failure.error.code ?? ''}`;
        if (key !== this.lastReportedKind) {
          this.lastReportedKind = key;
          events.onRetry(failure.error, delay);
        }
        this.status('retrying', failure.error.kind);
        await this.sleep(delay);
      }
    }
    this.status('stopped');
  }

  private waitForWork(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        this.wake = undefined;
        resolve();
      };
      if (this.options.outbox.peek() !== undefined || this.stopped) this.wake();
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.sleepHandle = this.clock.setTimeout(() => {
        this.sleepHandle = undefined;
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        if (this.sleepHandle !== undefined) this.clock.clearTimeout(this.sleepHandle);
        this.sleepHandle = undefined;
        this.wake = undefined;
        resolve();
      };
    });
  }

  /** Try now, without waiting out a backoff (e.g. after the user fixed something and redeployed). */
  retryNow(): void {
    this.wake?.();
  }

  /** Stops after the mail in flight; that mail stays queued unless the server already accepted it. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.wake?.();
    await this.loop;
  }
}
