/**
 * Exchange Online accepts 30 messages a minute per mailbox and throttles beyond that (421 4.7.66).
 * The pacer keeps the node below the limit instead: at most `perMinute` sends in any 60 s window
 * (a sliding window, as Exchange counts). Pure arithmetic; the sender waits what it says.
 */
export const PACE_WINDOW_MS = 60_000;

export class Pacer {
  /** Start times of the sends in the current window, oldest first (at most `perMinute` kept). */
  private readonly times: number[] = [];

  /** How long to wait before the next send may start; 0 = now. `perMinute` 0 = no pacing. */
  delayFor(perMinute: number, now: number): number {
    if (perMinute <= 0) return 0;
    while (this.times.length > 0 && this.times[0] <= now - PACE_WINDOW_MS) this.times.shift();
    if (this.times.length < perMinute) return 0;
    return this.times[this.times.length - perMinute] + PACE_WINDOW_MS - now;
  }

  /** Counts a send that starts now. */
  record(now: number, keep: number): void {
    this.times.push(now);
    const limit = Math.max(keep, 1);
    if (this.times.length > limit) this.times.splice(0, this.times.length - limit);
  }
}
