/**
 * POP3 failures as M365MailError values. `classifyPop3Error` is pure (text in, error out) so the
 * mapping from server wording to a kind and a fix text can be tested without a server. Refusal
 * texts are looked up in the catalogue shared with IMAP (src/auth/server-refusals) and socket
 * failures in the shared transport table (src/auth/transport-errors); what stays here is what only
 * POP3 has: the meaning of an -ERR to a particular command.
 */
import { M365MailError } from '../core/errors';
import { diagnoseServerRefusal, serverRefusal, type ServerRefusal } from '../core/server-refusals';
import { classifyTransportError, transportFailure } from '../core/transport-errors';

const FIX_PROTOCOL =
  'The server rejected a command as a protocol error. Check that pop3Host and pop3Port point at a POP3 server.';

const FIX_NO_XOAUTH2 =
  'The server does not offer SASL XOAUTH2 for POP3. Check pop3Host and pop3Port (Exchange Online: ' +
  'outlook.office365.com, port 995).';

const FIX_STLS =
  'The server does not support STLS on this port. Use implicit TLS (port 995) instead.';

/** Extended response code of RFC 2449/3206, e.g. `[IN-USE]` → `IN-USE`. */
export function responseCodeOf(text: string): string | undefined {
  const match = /^\s*\[([^\]\s]+)\]/.exec(stripStatus(text));
  return match ? match[1].toUpperCase() : undefined;
}

function stripStatus(text: string): string {
  return text.replace(/^-ERR\s?/i, '');
}

type Meaning = Pick<ServerRefusal, 'kind' | 'fix' | 'retryable' | 'code' | 'retryAfterMs'>;

/** What an -ERR means by the command it answered, for wordings the shared catalogue does not know. */
function meaningByCommand(command: string, detail: string): Meaning | undefined {
  if (command === 'AUTH' && /unrecognized authentication|unsupported|not supported|unknown mechanism/i.test(detail)) {
    return { kind: 'protocol-error', fix: FIX_NO_XOAUTH2, retryable: false };
  }
  if (/protocol error/i.test(detail)) {
    return command === 'AUTH' ? serverRefusal('xoauth2-one-line', 'pop3') : { kind: 'protocol-error', fix: FIX_PROTOCOL, retryable: false };
  }
  // Whatever the wording, an -ERR to AUTH is a refused login.
  if (command === 'AUTH') return serverRefusal('auth-failed', 'pop3');
  if (command === 'STLS') return { kind: 'tls', fix: FIX_STLS, retryable: false };
  return undefined;
}

/**
 * Turns a `-ERR` answer into an M365MailError with a kind the node can act on and a fix text.
 * `commandName` is the POP3 keyword that was answered (`AUTH`, `RETR`, …; `GREETING` for the banner).
 * `text` is the server line, with or without the leading `-ERR`; it never holds a secret.
 * The fix texts of a refused login cover app-only and delegated accounts; see `withAccountFix`.
 */
export function classifyPop3Error(commandName: string, text: string): M365MailError {
  const command = commandName.toUpperCase();
  const detail = stripStatus(text).trim();
  const code = responseCodeOf(detail);
  const message = `POP3 ${command} failed: -ERR ${detail}`.trimEnd();

  const known: Meaning | undefined = diagnoseServerRefusal('pop3', detail) ?? meaningByCommand(command, detail);
  if (!known) return new M365MailError(message, { kind: 'server-error', code });
  return new M365MailError(message, {
    kind: known.kind, fix: known.fix, retryable: known.retryable, code: code ?? known.code, retryAfterMs: known.retryAfterMs,
  });
}

/** Whether a socket error came from TLS (certificate, handshake) rather than from the network. */
export function isTlsError(error: unknown): boolean {
  return classifyTransportError(error)?.kind === 'tls';
}

/** Wraps a socket-level failure (refused, reset, DNS, TLS, timeout) into an M365MailError. */
export function socketError(error: unknown, host: string, port: number): M365MailError {
  if (error instanceof M365MailError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const codeText = typeof code === 'string' ? code : undefined;
  const reason = error instanceof Error ? error.message : String(error);
  // Any other socket failure still means the server could not be talked to.
  const failure = classifyTransportError(error) ?? transportFailure('unreachable');
  const message = failure.kind === 'tls'
    ? `TLS with POP3 server ${host}:${port} failed: ${reason}`
    : `Connection to POP3 server ${host}:${port} failed: ${reason}`;
  return new M365MailError(message, { kind: failure.kind, code: codeText, cause: error, retryable: failure.retryable, fix: failure.fix });
}

/** The connection ended while a command waited for its answer, or before one could be sent. */
export function connectionClosedError(detail: string): M365MailError {
  return new M365MailError(`POP3 connection closed: ${detail}`, { kind: 'network', retryable: true, fix: transportFailure('dropped').fix });
}

/** The server did not answer within the step's time limit. */
export function timeoutError(step: string, timeoutMs: number): M365MailError {
  return new M365MailError(`POP3 server did not answer ${step} within ${timeoutMs} ms`, {
    kind: 'timeout', retryable: true, fix: transportFailure('timeout').fix,
  });
}

/** The server sent something this client cannot interpret. */
export function protocolError(detail: string): M365MailError {
  return new M365MailError(`POP3 protocol error: ${detail}`, { kind: 'protocol-error' });
}
