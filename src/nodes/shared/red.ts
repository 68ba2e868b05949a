import type { Node, NodeAPI, NodeDef } from 'node-red';
import { M365MailError, isM365MailError } from '../../auth/errors';
import type { Translate } from './status';

/** A translator bound to the runtime's i18n for one node set. */
export function runtimeTranslator(RED: NodeAPI): Translate {
  return (key, values) => RED._(key, values as Record<string, string>);
}

/**
 * Reports an error so that a Catch node gets it (node.error with a msg object) and the log shows
 * message + fix-it text. Unknown errors are wrapped; secrets are never part of these texts.
 */
export function reportError(node: Node, error: unknown, msg: Record<string, unknown> = {}): M365MailError {
  const wrapped = isM365MailError(error)
    ? error
    : new M365MailError(error instanceof Error ? error.message : String(error), { kind: 'unknown', cause: error });
  node.error(wrapped.toString(), { ...msg, error: { message: wrapped.message, kind: wrapped.kind, fix: wrapped.fix, code: wrapped.code } });
  return wrapped;
}

export type NodeProps = NodeDef & Record<string, unknown>;
