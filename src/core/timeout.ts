/**
 * The one "race against a timeout" of the package: connecting, closing a connection politely
 * (LOGOUT, QUIT) and stopping an engine must never wait longer than a fixed time, whatever the
 * server does. The timer is unref'd and cleared, so it neither keeps the process alive nor fires late.
 */

/** Settles like `promise`, or as `onTimeout` says when `promise` takes longer than `ms`. */
async function race<T>(promise: Promise<T>, ms: number, onTimeout: (resolve: (value: T) => void, reject: (error: unknown) => void) => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<T>((resolve, reject) => {
        timer = setTimeout(() => onTimeout(resolve, reject), ms);
        timer.unref?.();
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** Resolves with what `promise` resolves to, or with `onTimeout` when it takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: T): Promise<T> {
  return race(promise, ms, (resolve) => resolve(onTimeout));
}

/** Settles like `promise`, or rejects with `timeoutError()` when it takes longer than `ms`. */
export function failAfter<T>(promise: Promise<T>, ms: number, timeoutError: () => unknown): Promise<T> {
  return race(promise, ms, (_resolve, reject) => reject(timeoutError()));
}

/** Resolves true when `promise` settled (either way) within `ms`, false otherwise; never rejects. */
export function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return withTimeout(promise.then(() => true, () => true), ms, false);
}
