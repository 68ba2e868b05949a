/**
 * One IMAP connection of the watcher ("session"), from a completed login to its end: the events
 * it listens to, its timers, the renewal before the token expires, IDLE, and a polite end (LOGOUT
 * with a short timeout). Its state is one value:
 *
 *   open → (renew-due: the token is due while a check runs; renew once it is done) → ending → ended
 *
 * The watcher decides when to check; the session only tells it (hooks) what the server announced.
 */
import type { MailboxObject } from 'imapflow';
import { TimerSet, type Clock } from '../core/clock';
import type { M365MailError } from '../core/errors';
import type { AccessTokenSource } from '../auth/token-source';
import { closeConnection, renewDelay, type ImapClient } from './connection';
import { toImapError } from './errors';

export type SessionState = 'open' | 'renew-due' | 'ending' | 'ended';
export type SessionEndReason = 'closed' | 'renew' | 'paused' | 'stopped';

export interface SessionEnd {
  reason: SessionEndReason;
  error?: M365MailError;
  /** Whether the session got as far as a completed check (then backoff starts over). */
  healthy: boolean;
}

export interface SessionHooks {
  /** The server announced new mail (EXISTS). */
  onExists(): void;
  /** The folder was selected again (e.g. with a new UIDVALIDITY). */
  onMailboxOpen(mailbox: MailboxObject): void;
  /** The session ended, for whatever reason. */
  onEnded(): void;
  errorContext(action: string): { action: string; mailbox: string; folder: string; appOnly?: boolean };
}

const LOGOUT_TIMEOUT_MS = 1_000;
/** A short pause keeps a server that ends every IDLE at once from turning IDLE into a busy loop. */
const IDLE_RESTART_PAUSE_MS = 250;

export class WatchSession {
  state: SessionState = 'open';
  /** The session got through a check (a drop from then on is routine). */
  healthy = false;
  /** The server refused IDLE; the session polls at `interval` instead. */
  idleRefused = false;
  /** The folder's message count when the last pass began (what its search covered). */
  existsSeen?: number;
  readonly timers: TimerSet;
  readonly done: Promise<SessionEnd>;
  private endError?: M365MailError;
  private endReason?: SessionEndReason;
  private lastError?: unknown;
  private resolveDone!: (end: SessionEnd) => void;
  private readonly detach: () => void;

  constructor(readonly client: ImapClient, clock: Clock, private readonly hooks: SessionHooks) {
    this.timers = new TimerSet(clock);
    this.done = new Promise<SessionEnd>((resolve) => { this.resolveDone = resolve; });
    const onExists = (): void => hooks.onExists();
    const onMailboxOpen = (mailbox: MailboxObject): void => hooks.onMailboxOpen(mailbox);
    const onClose = (): void => {
      const error = this.endError ?? (this.endReason ? undefined : this.closeError());
      this.finish(this.endReason ?? 'closed', error);
    };
    const onError = (err: Error): void => { this.lastError = err; };
    client.on('exists', onExists);
    client.on('mailboxOpen', onMailboxOpen);
    client.on('close', onClose);
    client.on('error', onError);
    this.detach = () => {
      client.off('exists', onExists);
      client.off('mailboxOpen', onMailboxOpen);
      client.off('close', onClose);
      client.off('error', onError);
    };
  }

  /** Neither ending nor ended. */
  get open(): boolean {
    return this.state === 'open' || this.state === 'renew-due';
  }

  /** Ends the session on purpose: LOGOUT (short timeout), close; resolves when it is over. */
  async end(reason: SessionEndReason, error?: M365MailError): Promise<SessionEnd> {
    if (this.open) {
      this.state = 'ending';
      this.endReason = reason;
      this.endError = error;
      this.timers.clear();
      await closeConnection(this.client, LOGOUT_TIMEOUT_MS);
      this.finish(reason, error);
    }
    return this.done;
  }

  /** Why the server or network ended the session, e.g. `* BYE … AccessTokenExpired`. */
  closeError(): M365MailError {
    const client = this.client;
    const cause = this.lastError ?? Object.assign(new Error('Connection closed'), { code: 'NoConnection', reason: client.byeReason });
    if (client.byeReason && typeof cause === 'object' && cause !== null && !(cause as { reason?: string }).reason) {
      (cause as { reason?: string }).reason = client.byeReason;
    }
    return toImapError(cause, this.hooks.errorContext('watch'));
  }

  /**
   * Planned renewal: `marginMs` before the token expires, get the new token while this session
   * still works, and only then call `renew` (the watcher reconnects, never in the middle of a
   * check). If the identity server fails just then, the session goes on with its old token and the
   * renewal is tried again while that token lasts.
   */
  scheduleRenewal(tokenExpiresAt: number, marginMs: number, tokens: AccessTokenSource, clock: Clock, renew: () => void): void {
    const attempt = (): void => {
      tokens.getAccessToken('imap', { forceRefresh: true }).then(renew, () => {
        const left = tokenExpiresAt - clock.now();
        if (left > 2_000 && this.open) this.timers.once(Math.min(30_000, Math.floor(left / 2)), attempt);
        else renew(); // the reconnect reports the token problem, with its backoff
      });
    };
    this.timers.once(renewDelay(tokenExpiresAt - clock.now(), marginMs), attempt);
  }

  /**
   * IDLE right after each check (imapflow's auto-IDLE would wait 15 s). imapflow restarts it every
   * `idleRestartMs`; the next command breaks it. If the server ends it on its own, start it again
   * while `mayIdle()`. A refusal makes the session poll instead and calls `onRefused`.
   */
  startIdle(mayIdle: () => boolean, onRefused: () => void): void {
    const client = this.client;
    if (!mayIdle() || client.idling) return;
    client.idle().then((result) => {
      if (result === false) {
        this.idleRefused = true;
        if (mayIdle()) onRefused();
        return;
      }
      if (mayIdle()) this.timers.once(IDLE_RESTART_PAUSE_MS, () => this.startIdle(mayIdle, onRefused));
    }, () => undefined /* the connection closed; 'close' ends the session */);
  }

  private finish(reason: SessionEndReason, error?: M365MailError): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.timers.clear();
    this.detach();
    this.hooks.onEnded();
    this.resolveDone({ reason, error, healthy: this.healthy });
  }
}
