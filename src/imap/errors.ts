/**
 * Turns what imapflow throws (or the server said) into an M365MailError with a kind and a fix.
 * Server refusals are looked up in the catalogue shared with POP3 (src/auth/server-refusals) and
 * socket, TLS and proxy failures in the shared transport table (src/auth/transport-errors);
 * imapflow's own flags (authenticationFailed, mailboxMissing, ETHROTTLE, tlsFailed) pick an entry
 * when the server's text says nothing.
 */
import { ErrorKind, M365MailError, isM365MailError } from '../core/errors';
import { diagnoseServerRefusal, serverRefusal, type ServerRefusal } from '../core/server-refusals';
import { classifyTransportError, transportFailure } from '../core/transport-errors';
import { parseThrottleHint } from '../core/backoff';
import { redactSecrets } from './redact';

/** The properties imapflow attaches to its errors that the mapping reads. */
interface ImapErrorLike {
  message?: string;
  code?: string;
  responseText?: string;
  response?: unknown;
  reason?: string;
  serverResponseCode?: string;
  authenticationFailed?: boolean;
  tlsFailed?: boolean;
  mailboxMissing?: boolean;
  throttleReset?: number;
  /** How long imapflow already waited out a throttling hint before it rejected the command. */
  throttleWaited?: number;
}

export interface ErrorContext {
  mailbox?: string;
  folder?: string;
  /** What the watcher was doing, e.g. 'login', 'open folder', 'fetch'. */
  action?: string;
  /** Whether the account uses an app-only flow (makes the fix texts concrete). */
  appOnly?: boolean;
}

/** A refusal the catalogue does not know: IMAP retries it, the next check may well pass. */
const FIX_SERVER_ERROR = 'The mail server refused the request; the watcher retries.';

function serverText(err: ImapErrorLike): string {
  const parts = [err.responseText, typeof err.response === 'string' ? err.response : undefined, err.reason];
  return parts.filter((part): part is string => typeof part === 'string' && part.length > 0).join(' ');
}

/** Classifies server or client text into an error kind; `undefined` when nothing matches. */
export function kindFromText(text: string): ErrorKind | undefined {
  return diagnoseServerRefusal('imap', text)?.kind;
}

/** The catalogue entry that imapflow's flags point at when the server's text is not recognised. */
function refusalFromFlags(err: ImapErrorLike, appOnly: boolean | undefined): ServerRefusal | undefined {
  if (err.mailboxMissing || err.serverResponseCode === 'NONEXISTENT') return serverRefusal('folder-not-found', 'imap');
  if (err.code === 'ETHROTTLE' || parseThrottleHint(err.message ?? '')) return serverRefusal('throttled', 'imap');
  if (err.authenticationFailed) return serverRefusal('auth-failed', 'imap', { appOnly });
  return undefined;
}

/**
 * What is still to wait of the server's throttling hint. imapflow sits out a hint (up to half its
 * socket timeout) before it rejects the command; only the rest is still to wait, or a 60 s hint
 * would keep the watcher away for 2 min.
 */
function remainingThrottleMs(err: ImapErrorLike, text: string): number | undefined {
  const hintMs = parseThrottleHint(`${text} ${err.message ?? ''}`)?.retryAfterMs ?? (typeof err.throttleReset === 'number' ? err.throttleReset : undefined);
  const waited = typeof err.throttleWaited === 'number' && err.throttleWaited > 0 ? err.throttleWaited : 0;
  return hintMs === undefined ? undefined : Math.max(0, hintMs - waited);
}

/**
 * Maps any thrown value to an M365MailError. M365MailErrors pass through unchanged. The message
 * carries the server's text (which never contains the token) and is redacted once more anyway.
 */
export function toImapError(error: unknown, context: ErrorContext = {}): M365MailError {
  if (isM365MailError(error)) return error;
  const adopted = adoptForeignError(error);
  if (adopted) return adopted;
  const err: ImapErrorLike = typeof error === 'object' && error !== null ? (error as ImapErrorLike) : { message: String(error) };
  const text = serverText(err);
  const code = err.code ?? err.serverResponseCode;
  const where = describeContext(context);
  const inContext = (message: string): string => `${message}${where ? ` (${where})` : ''}`;

  const refusal = (text ? diagnoseServerRefusal('imap', text, { appOnly: context.appOnly }) : undefined) ?? refusalFromFlags(err, context.appOnly);
  if (refusal) {
    return new M365MailError(inContext(refusal.title), {
      kind: refusal.kind, fix: refusal.fix, code: refusal.code ?? code, retryable: refusal.retryable,
      retryAfterMs: remainingThrottleMs(err, text) ?? refusal.retryAfterMs, cause: error,
    });
  }

  const detail = redactSecrets(text || err.message || 'unknown error');
  const transport = classifyTransportError(error) ?? (err.tlsFailed ? transportFailure('handshake') : undefined);
  if (transport) {
    return new M365MailError(inContext(`${transport.summary}: ${detail}`), {
      kind: transport.kind, fix: transport.fix, code, retryable: transport.retryable, cause: error,
    });
  }

  return new M365MailError(`IMAP ${where ? where + ': ' : ''}${detail}`, {
    kind: text ? 'server-error' : 'unknown',
    fix: text ? FIX_SERVER_ERROR : undefined,
    code,
    retryable: true,
    cause: error,
  });
}

/**
 * Each node file is its own bundle with its own copy of M365MailError, so an error from the
 * account node's token provider fails `instanceof` here and would be reported as 'unknown' without
 * its fix text. Such an error is recognised by its shape and re-created as one of ours.
 */
function adoptForeignError(error: unknown): M365MailError | undefined {
  if (!(error instanceof Error) || error.name !== 'M365MailError') return undefined;
  const foreign = error as Error & Partial<Pick<M365MailError, 'kind' | 'fix' | 'code' | 'retryable' | 'retryAfterMs'>>;
  if (typeof foreign.kind !== 'string') return undefined;
  return new M365MailError(foreign.message, {
    kind: foreign.kind, fix: foreign.fix, code: foreign.code, retryable: foreign.retryable,
    retryAfterMs: foreign.retryAfterMs, cause: foreign.cause,
  });
}

function describeContext(context: ErrorContext): string {
  return [context.action, context.mailbox && `mailbox ${context.mailbox}`, context.folder && `folder "${context.folder}"`]
    .filter(Boolean)
    .join(', ');
}

/** A disposition that the server refused or did not carry out. */
export function dispositionError(message: string, options: { retryable: boolean; cause?: unknown }): M365MailError {
  return new M365MailError(redactSecrets(message), {
    kind: 'disposition-failed',
    fix: 'The mail was delivered but not marked/moved/deleted; the watcher retries. Check the folder permissions and the moveTo folder.',
    retryable: options.retryable,
    cause: options.cause,
  });
}
