/**
 * The part every mail engine (IMAP watcher, POP3 poller, …) shares: its lifecycle
 * (new → running ⇄ paused → stopped, one state value), the run loop's sleep / wake, the callers
 * of checkNow() waiting for a check, retry delays, and status and error reporting. An engine owns
 * one shell and adds only its protocol's work. Knows nothing of Node-RED.
 */
import { Backoff, type BackoffOptions } from '../core/backoff';
import { systemClock, TimerSet, type Clock } from '../core/clock';
import { M365MailError, isM365MailError } from '../core/errors';
import { EngineReporter, type ReporterCallbacks } from './reporter';

/** `new`: created, not started. Only `stop()` leads to `stopped`, and nothing leads out of it. */
export type EnginePhase = 'new' | 'running' | 'paused' | 'stopped';

/** Why the run loop is woken: a check was asked for, or the lifecycle changed (pause, resume, stop). */
export type WakeReason = 'check' | 'control';

export interface EngineShellOptions {
  backoff?: BackoffOptions;
  clock?: Clock;
  /** What makes two errors "the same" for reporting (default: their kind). */
  errorKey?: (error: M365MailError) => string;
}

export class EngineShell<Status extends { state: string }> {
  readonly clock: Clock;
  /** Every timer of the engine; cleared on stop. */
  readonly timers: TimerSet;
  readonly backoff: Backoff;
  readonly report: EngineReporter<Status>;
  private phase: EnginePhase = 'new';
  private loop?: Promise<void>;
  private stopping?: Promise<void>;
  private wakeLoop?: (reason: WakeReason) => void;
  /** checkNow() callers for the next check, and for the one running. */
  private queued: Array<() => void> = [];
  private active: Array<() => void> = [];

  constructor(callbacks: ReporterCallbacks<Status>, options: EngineShellOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.timers = new TimerSet(this.clock);
    this.backoff = new Backoff(options.backoff);
    this.report = new EngineReporter<Status>(callbacks, 'stopped', () => this.phase === 'stopped', options.errorKey);
  }

  get started(): boolean {
    return this.loop !== undefined;
  }

  get stopped(): boolean {
    return this.phase === 'stopped';
  }

  get paused(): boolean {
    return this.phase === 'paused';
  }

  /** Paused or stopped: no new work may begin. */
  get halted(): boolean {
    return this.phase === 'paused' || this.phase === 'stopped';
  }

  /** Whether checkNow() has anything to wait for. */
  get accepting(): boolean {
    return this.started && this.phase === 'running';
  }

  /** The run loop, or a resolved promise before start. */
  get loopDone(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  /** Runs `loop` once; a rejection is reported through `onCrash`. Returns whether it started. */
  start(loop: () => Promise<void>, onCrash: (error: unknown) => void): boolean {
    if (this.loop || this.phase === 'stopped') return false;
    if (this.phase === 'new') this.phase = 'running';
    this.loop = loop().catch(onCrash);
    return true;
  }

  /** Enters `paused` (releasing every checkNow() caller); false when already paused or stopped. */
  pause(): boolean {
    if (this.halted) return false;
    this.phase = 'paused';
    this.releaseWaiters();
    this.wake('control');
    return true;
  }

  /** Leaves `paused`; false when not paused. */
  resume(): boolean {
    if (this.phase !== 'paused') return false;
    this.phase = 'running';
    this.wake('control');
    return true;
  }

  /**
   * Enters `stopped` and runs `finish` (the engine's own closing) once; later calls get the same
   * promise. Afterwards every timer is cleared, every waiter released and the final status told.
   */
  stop(finish: () => Promise<void>): Promise<void> {
    this.stopping ??= (async () => {
      this.phase = 'stopped';
      this.releaseWaiters();
      this.wake('control');
      await finish();
      this.timers.clear();
      this.releaseWaiters();
      this.report.final({ state: 'stopped' } as Status);
    })();
    return this.stopping;
  }

  // ── checkNow() callers ──────────────────────────────────────────────────────────────────────

  /** A promise for a checkNow() caller: resolved when a check that starts after now has ended. */
  waitForCheck(): Promise<void> {
    return new Promise<void>((resolve) => this.queued.push(resolve));
  }

  /** A check starts: the callers queued so far are served by it. */
  beginCheck(): void {
    this.active.push(...this.queued);
    this.queued = [];
  }

  /** The check that began last has ended: its callers are served. */
  endCheck(): void {
    const served = this.active;
    this.active = [];
    for (const resolve of served) resolve();
  }

  /** Resolves every caller, queued or served by a running check (on pause, stop, failure). */
  releaseWaiters(): void {
    this.beginCheck();
    this.endCheck();
  }

  // ── the run loop's waiting ──────────────────────────────────────────────────────────────────

  /** Waits `ms`; a lifecycle change ends the wait early, and a check request too when `checkCutsShort`. */
  sleep(ms: number, checkCutsShort = true): Promise<void> {
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

  /** Waits until woken. */
  waitForWake(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wakeLoop = () => {
        this.wakeLoop = undefined;
        resolve();
      };
    });
  }

  wake(reason: WakeReason): void {
    this.wakeLoop?.(reason);
  }
}

/**
 * How often a mail may fail to be handed over before it is skipped (a flow that throws on one
 * mail must not stop every later one). Counted per mail, in memory.
 */
export class RetryBudget<Key> {
  private readonly failures = new Map<Key, number>();

  constructor(readonly maxAttempts: number) {}

  /** Counts one more failure of `key`; `giveUp` when the budget is used up (then it is forgotten). */
  fail(key: Key): { attempts: number; giveUp: boolean } {
    const attempts = (this.failures.get(key) ?? 0) + 1;
    const giveUp = attempts >= this.maxAttempts;
    if (giveUp) this.failures.delete(key);
    else this.failures.set(key, attempts);
    return { attempts, giveUp };
  }

  /** `key` was handed over (or is gone): its count starts over. */
  forget(key: Key): void {
    this.failures.delete(key);
  }

  clear(): void {
    this.failures.clear();
  }
}

/**
 * The error told when a hand-over failed: which mail, which attempt, what happens next, and the
 * cause's kind and fix (a flow's own error keeps its meaning).
 */
export function handOverError(mail: string, attempt: { attempts: number; giveUp: boolean }, maxAttempts: number, retryText: string, error: unknown): M365MailError {
  const cause = isM365MailError(error) ? error : undefined;
  const reason = error instanceof Error ? error.message : String(error);
  return new M365MailError(
    `Handing over ${mail} failed (attempt ${attempt.attempts} of ${maxAttempts})${attempt.giveUp ? '; skipping it' : `; ${retryText}`}: ${reason}`,
    { kind: cause?.kind ?? 'unknown', fix: cause?.fix, retryable: !attempt.giveUp, cause: error },
  );
}
