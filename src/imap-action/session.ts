/**
 * One IMAP connection for the actions on one mailbox of one account, shared by every action node
 * that acts there (never a reader's connection: a reader may sit in IDLE). It connects when there
 * is work, runs the queued actions one merged command at a time, closes after a short idle time,
 * reconnects with a fresh token before the old one expires, and after a failure reconnects with
 * backoff while the actions wait in the queue. Its stop, timers, backoff and backoff wait are
 * the engine shell's (engine/shell.ts).
 */
import type { BackoffOptions } from '../core/backoff';
import type { Clock } from '../core/clock';
import { M365MailError } from '../core/errors';
import { closeConnection, openConnection, renewDelay, type ImapClient, type ImapConnectionOptions } from '../imap/connection';
import { toImapError } from '../imap/errors';
import { EngineShell } from '../engine/shell';
import { applyBatch, type ActionBatch, type ActionClient, type UidOutcome } from './apply';
import { takeBatch } from './batching';

/** One request waiting for the server; `settle` gets the outcome of each of its UIDs. */
export interface SessionItem {
  batch: ActionBatch;
  /** Who asked (a node id); lets a closing node take its items back. */
  owner: string;
  settle(outcomes: UidOutcome[]): void;
}

export type SessionState =
  | { state: 'connecting' }
  | { state: 'connected' }
  | { state: 'idle' }
  | { state: 'error'; error: M365MailError; retryInMs?: number };

export interface ActionSessionOptions {
  connection: ImapConnectionOptions;
  /** Close the connection after this long without work; default 30 s. */
  idleMs?: number;
  /** Reconnect this long before the token expires; default 5 min. */
  renewMarginMs?: number;
  backoff?: BackoffOptions;
  clock?: Clock;
  /** Replaces applyBatch, for tests. */
  apply?: (client: ActionClient, batch: ActionBatch) => Promise<UidOutcome[]>;
}

export const DEFAULT_ACTION_IDLE_MS = 30_000;

// Failures that trying again later cannot fix are reported to the waiting msgs instead. A missing
// delegated sign-in is waited out: the actions are stored, and a sign-in wakes the session.
function shouldRetry(error: M365MailError): boolean {
  return error.retryable || error.kind === 'network' || error.kind === 'timeout' || error.kind === 'tls' || error.kind === 'sign-in-required';
}

export class ActionSession {
  private readonly queue: SessionItem[] = [];
  private readonly listeners = new Set<(state: SessionState) => void>();
  /** Its lifecycle (only `stopped` is used: the run loop starts with each batch of work), timers, backoff. */
  private readonly shell: EngineShell<SessionState | { state: 'stopped' }>;
  private client: ImapClient | undefined;
  private running: Promise<void> | undefined;
  /** Set while the run loop works through the queue; cleared in the same turn as its last look at it. */
  private active = false;
  private renewDue = false;
  private forceRefresh = false;
  private cancelIdle: () => void = () => undefined;
  private cancelRenew: () => void = () => undefined;

  constructor(private readonly options: ActionSessionOptions) {
    this.shell = new EngineShell({}, { clock: options.clock, backoff: options.backoff });
  }

  private get stopped(): boolean {
    return this.shell.stopped;
  }

  /** Hears connecting / connected / idle / error; returns the unsubscribe function. */
  onState(listener: (state: SessionState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Queues an action; it runs with the next command that fits it. */
  submit(item: SessionItem): void {
    if (this.stopped) throw new Error('the action session is stopped');
    this.queue.push(item);
    this.cancelIdle();
    if (this.active) return;
    this.active = true;
    this.running = this.run();
  }

  /** Ends a backoff wait now, e.g. because the user just signed in. */
  retryNow(): void {
    this.shell.backoff.reset();
    this.shell.wake('check');
  }

  /** Removes an owner's items that have not been sent yet (they stay stored for the next start). */
  withdraw(owner: string): SessionItem[] {
    const mine = this.queue.filter((item) => item.owner === owner);
    const others = this.queue.filter((item) => item.owner !== owner);
    this.queue.splice(0, this.queue.length, ...others);
    return mine;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Ends the session: drops the queue and closes the connection. */
  stop(): Promise<void> {
    return this.shell.stop(async () => {
      this.queue.length = 0;
      this.shell.timers.clear();
      await this.running?.catch(() => undefined);
      await this.disconnect();
    });
  }

  private emit(state: SessionState): void {
    for (const listener of this.listeners) listener(state);
  }

  private async run(): Promise<void> {
    while (!this.stopped && this.queue.length > 0) {
      const taken = takeBatch(this.queue);
      if (!taken) break;
      let outcomes: UidOutcome[];
      try {
        const client = await this.connected();
        outcomes = await (this.options.apply ?? applyBatch)(client, taken.batch);
        this.shell.backoff.reset();
      } catch (err) {
        const error = toImapError(err);
        await this.disconnect();
        if (this.stopped) break;
        if (!shouldRetry(error)) {
          this.emit({ state: 'error', error });
          for (const item of taken.items) item.settle(item.batch.uids.map((uid) => ({ uid, result: 'failed', error })));
          continue;
        }
        // Back into the queue at the front, in their order; tried again after the backoff.
        this.queue.unshift(...taken.items);
        if (error.kind === 'token-expired') this.forceRefresh = true;
        const delay = this.shell.backoff.next(error.retryAfterMs);
        this.emit({ state: 'error', error, retryInMs: delay });
        await this.shell.sleep(delay);
        continue;
      }
      const byUid = new Map(outcomes.map((o) => [o.uid, o]));
      for (const item of taken.items) {
        item.settle(item.batch.uids.map((uid) => byUid.get(uid) ?? { uid, result: 'failed', error: new M365MailError(`The server's answer did not cover UID ${uid}`, { kind: 'action-refused', retryable: false }) }));
      }
    }
    this.active = false;
    if (this.stopped) return;
    this.emit({ state: 'idle' });
    if (this.renewDue) void this.disconnect();
    this.cancelIdle = this.shell.timers.once(this.options.idleMs ?? DEFAULT_ACTION_IDLE_MS, () => { void this.disconnect(); });
  }

  private async connected(): Promise<ImapClient> {
    if (this.client && this.client.usable && !this.renewDue) return this.client;
    await this.disconnect();
    this.emit({ state: 'connecting' });
    const opened = await openConnection(this.options.connection, this.forceRefresh);
    this.forceRefresh = false;
    if (this.stopped) {
      await closeConnection(opened.client);
      throw new M365MailError('stopped', { kind: 'unknown' });
    }
    const client = opened.client;
    this.client = client;
    client.on('close', () => { if (this.client === client) this.client = undefined; });
    if (opened.tokenExpiresAt !== undefined) {
      const delay = renewDelay(opened.tokenExpiresAt - this.shell.clock.now(), this.options.renewMarginMs ?? 5 * 60_000);
      // Due: the next command reconnects first; with nothing to do the connection just closes.
      this.cancelRenew = this.shell.timers.once(delay, () => {
        this.renewDue = true;
        if (!this.active) void this.disconnect();
      });
    }
    this.emit({ state: 'connected' });
    return client;
  }

  private async disconnect(): Promise<void> {
    this.cancelRenew();
    this.cancelIdle();
    this.renewDue = false;
    const client = this.client;
    this.client = undefined;
    if (client) await closeConnection(client);
  }
}
