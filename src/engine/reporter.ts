import type { M365MailError } from '../core/errors';

export interface ReporterCallbacks<Status extends { state: string }> {
  onStatus?(status: Status): void;
  onError?(error: M365MailError): void;
}

/**
 * Status and error reporting shared by the engines: the same error kind (or the key `errorKey`
 * gives, e.g. kind and code) is reported once until things work again, nothing is reported after stop (but the final
 * status), and a throwing
 * callback never breaks the engine.
 */
export class EngineReporter<Status extends { state: string }> {
  private lastReportedKey?: string;
  state: Status['state'];

  constructor(
    private readonly callbacks: ReporterCallbacks<Status>,
    initialState: Status['state'],
    private readonly isStopped: () => boolean,
    private readonly errorKey: (error: M365MailError) => string = (error) => error.kind,
  ) {
    this.state = initialState;
  }

  /** An error was reported and nothing has worked since (`recovered()` not called yet). */
  get troubled(): boolean {
    return this.lastReportedKey !== undefined;
  }

  /** Reports an error; repeats of the same kind are dropped until `recovered()`, unless `always`. */
  error(error: M365MailError, always = false): void {
    if (this.isStopped()) return;
    if (!always && this.lastReportedKey === this.errorKey(error)) return;
    if (!always) this.lastReportedKey = this.errorKey(error);
    safely(() => this.callbacks.onError?.(error));
  }

  status(status: Status): void {
    if (this.isStopped()) return;
    this.state = status.state;
    safely(() => this.callbacks.onStatus?.(status));
  }

  /** A check or poll succeeded: the next error of any kind is worth reporting again. */
  recovered(): void {
    this.lastReportedKey = undefined;
  }

  /** The last status, told even though the engine counts as stopped already. */
  final(status: Status): void {
    this.state = status.state;
    safely(() => this.callbacks.onStatus?.(status));
  }
}

/** A throwing callback is the callback's own problem. */
export function safely(call: () => void): void {
  try {
    call();
  } catch {
    /* ignored on purpose */
  }
}
