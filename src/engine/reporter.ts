import type { ErrorKind, M365MailError } from '../core/errors';

export interface ReporterCallbacks<Status extends { state: string }> {
  onStatus?(status: Status): void;
  onError?(error: M365MailError): void;
}

/**
 * Status and error reporting shared by the IMAP watcher and the POP3 poller: the same error kind
 * is reported once until things work again, nothing is reported after stop (but the final
 * status), and a throwing
 * callback never breaks the engine.
 */
export class EngineReporter<Status extends { state: string }> {
  private lastReportedKind?: ErrorKind;
  state: Status['state'];

  constructor(private readonly callbacks: ReporterCallbacks<Status>, initialState: Status['state'], private readonly isStopped: () => boolean) {
    this.state = initialState;
  }

  /** Reports an error; repeats of the same kind are dropped until `recovered()`, unless `always`. */
  error(error: M365MailError, always = false): void {
    if (this.isStopped()) return;
    if (!always && this.lastReportedKind === error.kind) return;
    if (!always) this.lastReportedKind = error.kind;
    safely(() => this.callbacks.onError?.(error));
  }

  status(status: Status): void {
    if (this.isStopped()) return;
    this.state = status.state;
    safely(() => this.callbacks.onStatus?.(status));
  }

  /** A check or poll succeeded: the next error of any kind is worth reporting again. */
  recovered(): void {
    this.lastReportedKind = undefined;
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
