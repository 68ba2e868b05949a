/**
 * The watcher's only view of time. Tests inject a fake one; production uses the real timers.
 */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Every timer of one owner in one place, so closing clears them all at once (no stray timer can
 * fire into a stopped watcher or a closed connection).
 */
export class TimerSet {
  private readonly handles = new Set<unknown>();

  constructor(private readonly clock: Clock) {}

  /** Runs `callback` once after `ms`; returns a function that cancels it. */
  once(ms: number, callback: () => void): () => void {
    const handle = this.clock.setTimeout(() => {
      this.handles.delete(handle);
      callback();
    }, Math.max(0, ms));
    this.handles.add(handle);
    return () => {
      if (this.handles.delete(handle)) this.clock.clearTimeout(handle);
    };
  }

  /** Runs `callback` every `ms` until cancelled or cleared. */
  every(ms: number, callback: () => void): () => void {
    let cancelOne: () => void = () => undefined;
    let cancelled = false;
    const schedule = (): void => {
      cancelOne = this.once(ms, () => {
        if (cancelled) return;
        schedule();
        callback();
      });
    };
    schedule();
    return () => {
      cancelled = true;
      cancelOne();
    };
  }

  clear(): void {
    for (const handle of this.handles) this.clock.clearTimeout(handle);
    this.handles.clear();
  }
}
