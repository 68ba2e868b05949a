import type { Node, NodeAPI, NodeDef } from 'node-red';
import { M365MailError, isM365MailError } from '../../core/errors';
import type { Translate } from './status';

/** A translator bound to the runtime's i18n for one node set. */
export function runtimeTranslator(RED: NodeAPI): Translate {
  return (key, values) => RED._(key, values as Record<string, string>);
}

/**
 * What node.error gets: Node-RED copies its text into a Catch node's msg.error.message and its
 * `code` into msg.error.code, so flows can switch on the kind. No cause or stack of the original
 * error travels along (they could hold server answers).
 */
class ReportedError extends Error {
  readonly code: string;

  constructor(error: M365MailError) {
    super(error.toString());
    this.name = 'M365MailError';
    this.code = error.kind;
    this.stack = `${this.name}: ${this.message}`;
  }

  override toString(): string {
    return this.message;
  }
}

/**
 * Reports an error so that a Catch node gets it (node.error with a msg object) and the log shows
 * message + fix-it text. The Catch node's msg has `error: {message, code: <kind>, source}` and the
 * details as `_error: {message, kind, fix, code}` (Node-RED moves a msg's own `error` there).
 * Unknown errors are wrapped; secrets are never part of these texts.
 */
export function reportError(node: Node, error: unknown, msg: Record<string, unknown> = {}): M365MailError {
  const wrapped = isM365MailError(error)
    ? error
    : new M365MailError(error instanceof Error ? error.message : String(error), { kind: 'unknown', cause: error });
  node.error(new ReportedError(wrapped), { ...msg, error: { message: wrapped.message, kind: wrapped.kind, fix: wrapped.fix, code: wrapped.code } });
  return wrapped;
}

export type NodeProps = NodeDef & Record<string, unknown>;

/** Whether any Node-RED log handler writes debug lines (settings.logging.<handler>.level debug/trace). */
export function debugLoggingEnabled(RED: NodeAPI): boolean {
  const logging = (RED.settings as unknown as { logging?: Record<string, { level?: string } | undefined> }).logging ?? {};
  return Object.values(logging).some((handler) => handler?.level === 'debug' || handler?.level === 'trace');
}
