/**
 * Retry delays shared by the IMAP watcher and the POP3 poller: exponential with "equal jitter"
 * (half fixed, half random), so many clients that lost the same server do not all come back in
 * the same second, and never faster than half the nominal delay. A throttling hint from the
 * server always wins over a shorter computed delay.
 */
export interface BackoffOptions {
  /** First delay, in ms. */
  baseMs?: number;
  /** Largest computed delay, in ms. */
  capMs?: number;
  /** Largest delay at all, also for a server's throttling hint, in ms. */
  maxHintMs?: number;
  /** Source of randomness in [0, 1); injectable for tests. */
  random?: () => number;
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = {
  baseMs: 1_000,
  capMs: 60_000,
  maxHintMs: 15 * 60_000,
  random: Math.random,
};

/**
 * Delay before reconnect attempt number `attempt` (0 = first retry).
 * @param retryAfterMs server's throttling hint; the delay is at least this long
 */
export function backoffDelay(attempt: number, retryAfterMs?: number, options: BackoffOptions = {}): number {
  const { baseMs, capMs, maxHintMs, random } = { ...DEFAULT_BACKOFF, ...options };
  const nominal = Math.min(capMs, baseMs * 2 ** Math.min(Math.max(0, attempt), 30));
  const jittered = Math.round(nominal / 2 + random() * (nominal / 2));
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs > jittered) {
    return Math.min(maxHintMs, Math.round(retryAfterMs));
  }
  return jittered;
}

/** Counts consecutive failures and hands out the matching delay. */
export class Backoff {
  private attempt = 0;

  constructor(private readonly options: BackoffOptions = {}) {}

  /** Delay for the next attempt; each call counts one more failure. */
  next(retryAfterMs?: number): number {
    return backoffDelay(this.attempt++, retryAfterMs, this.options);
  }

  /** The longest regular delay, for failures that retrying soon will not fix (e.g. a refused login). */
  longest(retryAfterMs?: number): number {
    this.attempt++;
    return backoffDelay(30, retryAfterMs, this.options);
  }

  /** After a healthy session the next failure starts over at the base delay. */
  reset(): void {
    this.attempt = 0;
  }

  get failures(): number {
    return this.attempt;
  }
}

/**
 * Reads Exchange's throttling hints from server text: "Request is throttled. Suggested Backoff
 * Time: 92415 milliseconds" (→ 92415) or a `[THROTTLED]` response code (→ `undefined` delay but
 * throttled). Returns `undefined` when the text says nothing about throttling.
 */
export function parseThrottleHint(text: string): { throttled: true; retryAfterMs?: number } | undefined {
  const throttled = /\[THROTTLED\]|Request is throttled|\bthrottl/i.test(text);
  if (!throttled) return undefined;
  const match = /Backoff Time[:=\s]+(\d+)\s*(milliseconds|ms|seconds|s)?/i.exec(text);
  if (!match) return { throttled: true };
  const value = Number(match[1]);
  const unit = (match[2] ?? 'milliseconds').toLowerCase();
  return { throttled: true, retryAfterMs: unit.startsWith('s') ? value * 1000 : value };
}
