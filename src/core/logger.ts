/**
 * The one logger shape of the package: what Node-RED's node.debug/log/warn/error and console
 * offer. Every method is optional (a caller passes what it has); `debugEnabled: false` lets a
 * library skip building debug lines nobody writes.
 */
export interface Logger {
  debug?(message: string): void;
  info?(message: string): void;
  warn?(message: string): void;
  error?(message: string): void;
  /** Whether debug lines are written anywhere (default true). */
  debugEnabled?: boolean;
}
