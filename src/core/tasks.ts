/**
 * Pacing of asynchronous work on the one event loop: a limit on how many tasks run at once, and a
 * yield to the next turn of the loop (so I/O callbacks waiting behind CPU work get their turn).
 */

/** Resolves in the next turn of the event loop, after the I/O callbacks that are due. */
export function nextTurnOfLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Runs at most `limit` tasks at once, the rest in arrival order. */
export class TaskLimiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  run<T>(task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = (): void => {
        this.running++;
        task().then(resolve, reject).finally(() => {
          this.running--;
          this.waiting.shift()?.();
        });
      };
      if (this.running < this.limit) start();
      else this.waiting.push(start);
    });
  }
}
