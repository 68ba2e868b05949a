/**
 * The one SMTP connection of an account + mailbox, shared by every m365-mail-out node that sends
 * as it: sends are serialized, paced (Exchange's 30 a minute per mailbox), and the connection is
 * reused while mail keeps coming and closed after `idleMs` without any. A refused login gets one
 * fresh token and one more try; a second refusal is explained by the token that was sent.
 */
import { explainRefusedLogin, type ExpectedToken } from '../auth/refused-login';
import type { RefusalContext } from '../core/server-refusals';
import { systemClock, type Clock } from '../core/clock';
import { M365MailError } from '../core/errors';
import type { SmtpEnvelope } from './compile';
import { Pacer } from './pacer';
import { SmtpSession, type SmtpSendInfo, type SmtpSessionOptions } from './smtp-session';
import { toSmtpFailure, type SmtpFailure } from './errors';

/** What the sender needs from the account: tokens for SMTP submission. */
export interface SmtpTokenSource {
  getAccessToken(protocol: 'smtp', options?: { forceRefresh?: boolean }): Promise<string>;
  /** What the account's tokens should look like, to explain a refused login. */
  expectedToken?(): ExpectedToken | undefined;
}

export interface MailboxSenderOptions extends SmtpSessionOptions {
  tokens: SmtpTokenSource;
  /** Makes the fix texts concrete. */
  refusalContext?: RefusalContext;
  /** The connection is closed after this long without a send. */
  idleMs?: number;
  clock?: Clock;
  /** One line per connection event (no secrets). */
  log?: (text: string) => void;
}

/** A failure with what it means for the mail (see ./errors). */
export class SmtpSendError extends Error {
  constructor(readonly failure: SmtpFailure) {
    super(failure.error.message);
    this.name = 'SmtpSendError';
  }
}

export class MailboxSender {
  private session?: SmtpSession;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly pacer = new Pacer();
  private idleTimer?: unknown;
  private closed = false;
  private wakeWaiter?: () => void;
  private readonly clock: Clock;

  constructor(private readonly options: MailboxSenderOptions) {
    this.clock = options.clock ?? systemClock;
  }

  get mailbox(): string {
    return this.options.mailbox;
  }

  /** Sends one mail when its turn and the pace allow; rejects with SmtpSendError. */
  send(envelope: SmtpEnvelope, raw: Buffer, pace: number, signal?: AbortSignal): Promise<SmtpSendInfo> {
    const run = this.chain.then(() => this.sendNow(envelope, raw, pace, signal));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async sendNow(envelope: SmtpEnvelope, raw: Buffer, pace: number, signal?: AbortSignal): Promise<SmtpSendInfo> {
    this.cancelIdle();
    const gone = (): boolean => this.closed || signal?.aborted === true;
    const notSent = (): SmtpSendError => new SmtpSendError({ scope: 'session', error: new M365MailError('Sending was stopped before this mail went out.', { kind: 'network', retryable: true }) });
    if (gone()) throw notSent();
    const wait = this.pacer.delayFor(pace, this.clock.now());
    if (wait > 0) await this.sleep(wait, signal);
    if (gone()) {
      this.scheduleIdle();
      throw notSent();
    }
    const session = await this.connected();
    this.pacer.record(this.clock.now(), pace);
    try {
      const info = await session.send(envelope, raw);
      this.scheduleIdle();
      return info;
    } catch (error) {
      // A refused or broken send leaves the session in an unknown state: the next mail gets a new one.
      this.dropSession();
      throw new SmtpSendError(toSmtpFailure(error, this.options.refusalContext));
    }
  }

  private async connected(): Promise<SmtpSession> {
    if (this.session?.usable) return this.session;
    this.dropSession();
    const fetch = (renew: boolean): Promise<string> => this.options.tokens.getAccessToken('smtp', { forceRefresh: renew });
    let session: SmtpSession;
    try {
      session = await this.startSession(fetch);
    } catch (first) {
      const failure = toSmtpFailure(first, this.options.refusalContext);
      if (failure.error.kind !== 'auth-failed') throw new SmtpSendError({ ...failure, scope: 'session' });
      // The cached token may be older than a permission change: one fresh token, one more login.
      this.options.log?.('SMTP login refused; trying once more with a fresh token');
      let lastToken = '';
      try {
        session = await this.startSession(async () => {
          lastToken = await this.options.tokens.getAccessToken('smtp', { forceRefresh: true });
          return lastToken;
        });
      } catch (second) {
        const again = toSmtpFailure(second, this.options.refusalContext);
        const error = again.error.kind === 'auth-failed' && lastToken
          ? explainRefusedLogin(again.error, lastToken, 'smtp', this.options.tokens.expectedToken?.(), this.options.refusalContext?.appOnly)
          : again.error;
        throw new SmtpSendError({ error, scope: 'session' });
      }
    }
    this.session = session;
    this.options.log?.(`SMTP connected to ${this.options.host}:${this.options.port} as ${this.options.mailbox}`);
    return session;
  }

  private startSession(fetch: (renew: boolean) => Promise<string>): Promise<SmtpSession> {
    return SmtpSession.start(this.options, fetch);
  }

  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const finish = (): void => {
        this.clock.clearTimeout(handle);
        this.wakeWaiter = undefined;
        signal?.removeEventListener('abort', finish);
        resolve();
      };
      const handle = this.clock.setTimeout(finish, ms);
      this.wakeWaiter = finish;
      signal?.addEventListener('abort', finish);
    });
  }

  private scheduleIdle(): void {
    this.cancelIdle();
    this.idleTimer = this.clock.setTimeout(() => {
      this.idleTimer = undefined;
      if (this.session) this.options.log?.('SMTP connection idle: closing it');
      this.session?.quit();
      this.session = undefined;
    }, this.options.idleMs ?? 10_000);
  }

  private cancelIdle(): void {
    if (this.idleTimer !== undefined) this.clock.clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private dropSession(): void {
    this.session?.close();
    this.session = undefined;
  }

  /** Whether a connection is open now (for status and tests). */
  get connectedNow(): boolean {
    return this.session?.usable === true;
  }

  /** Ends the connection; a send waiting for its pace gives up. */
  async close(): Promise<void> {
    this.closed = true;
    this.cancelIdle();
    this.wakeWaiter?.();
    this.session?.quit();
    this.session = undefined;
    await this.chain;
  }
}
