/**
 * Turns what imapflow throws (or the server said) into an M365MailError with a kind and a fix.
 * Local minimal mapper; the lead may route server texts through src/auth/diagnose.ts instead.
 */
import { errorFromServerResponse, errorFromTransport } from '../auth/diagnose';
import { ErrorKind, M365MailError, isM365MailError } from '../auth/errors';
import { parseThrottleHint } from '../util/backoff';
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

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE',
  'ECONNABORTED', 'NoConnection', 'EConnectionClosed', 'ClosedAfterConnectText', 'ClosedAfterConnectTLS',
  // NoMailboxSelected: our own check found the folder deselected, i.e. the connection is closing.
  'StateLogout', 'EPROXY', 'ProxyError', 'NoMailboxSelected',
]);
const TIMEOUT_CODES = new Set(['CONNECT_TIMEOUT', 'GREETING_TIMEOUT', 'UPGRADE_TIMEOUT', 'ETIMEOUT', 'ETIMEDOUT']);
const TLS_CODE = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|DEPTH_ZERO|HOSTNAME|ALTNAME/i;

const FIX: Partial<Record<ErrorKind, string>> = {
  'token-expired': 'The access token expired; the watcher reconnects with a fresh one. If this repeats, check the clock of this machine.',
  'auth-failed': 'Check that the app has the IMAP.AccessAsApp (or IMAP.AccessAsUser.All) permission with admin consent, that the token is for https://outlook.office365.com, and that IMAP is enabled for the mailbox.',
  'not-connected': 'Register the app\'s service principal in Exchange (New-ServicePrincipal) and give it access to the mailbox (Add-MailboxPermission -AccessRights FullAccess).',
  'folder-not-found': 'Check the folder path (sub-folders are separated by "/" on Exchange) or pick it from the folder list.',
  throttled: 'Exchange is throttling this mailbox; the watcher waits as long as the server asked. Lower the number of connections or checks.',
  tls: 'The server certificate was not accepted. Check the host name and, behind a TLS-inspecting proxy, add its CA with NODE_EXTRA_CA_CERTS.',
  network: 'The connection to the mail server failed; the watcher retries. Check host, port, firewall and proxy settings if it persists.',
  timeout: 'The mail server did not answer in time; the watcher retries. Check network and proxy settings if it persists.',
  'server-error': 'The mail server refused the request; the watcher retries.',
};

const RETRYABLE: ReadonlySet<ErrorKind> = new Set<ErrorKind>(['token-expired', 'throttled', 'network', 'timeout', 'server-error', 'unknown']);

function serverText(err: ImapErrorLike): string {
  const parts = [err.responseText, typeof err.response === 'string' ? err.response : undefined, err.reason];
  return parts.filter((part): part is string => typeof part === 'string' && part.length > 0).join(' ');
}

/** Classifies server or client text into an error kind; `undefined` when nothing matches. */
export function kindFromText(text: string): ErrorKind | undefined {
  // The server could not check the token just now (its identity back end was slow): try again.
  if (/\[UNAVAILABLE\]|Temporary authentication failure|\[SYS\/TEMP\]/i.test(text)) return 'server-error';
  if (/AccessTokenExpired|token (has )?expired/i.test(text)) return 'token-expired';
  if (/authenticated but not connected/i.test(text)) return 'not-connected';
  if (parseThrottleHint(text)) return 'throttled';
  if (/AUTHENTICATE failed|AUTHENTICATIONFAILED|Authentication failed|LOGIN failed|invalid credentials/i.test(text)) return 'auth-failed';
  if (/NONEXISTENT|Mailbox doesn't exist|mailbox does not exist|Folder not found|no such (mailbox|folder)|not found/i.test(text)) return 'folder-not-found';
  return undefined;
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
  const hint = parseThrottleHint(`${text} ${err.message ?? ''}`);

  let kind: ErrorKind | undefined = kindFromText(text);
  if (!kind && err.mailboxMissing) kind = 'folder-not-found';
  if (!kind && (code === 'ETHROTTLE' || hint)) kind = 'throttled';
  if (!kind && err.authenticationFailed) kind = 'auth-failed';
  if (!kind && (err.tlsFailed || (code && !NETWORK_CODES.has(code) && TLS_CODE.test(code)))) kind = 'tls';
  if (!kind && code && TIMEOUT_CODES.has(code)) kind = 'timeout';
  if (!kind && code && NETWORK_CODES.has(code)) kind = 'network';
  if (!kind && err.serverResponseCode === 'NONEXISTENT') kind = 'folder-not-found';
  if (!kind && text) kind = 'server-error';
  kind ??= 'unknown';

  const where = describeContext(context);
  const hintMs = hint?.retryAfterMs ?? (typeof err.throttleReset === 'number' ? err.throttleReset : undefined);
  // imapflow sits out a throttling hint (up to half its socket timeout) before it rejects the
  // command; only the rest is still to wait, or a 60 s hint would keep the watcher away for 2 min.
  const waited = typeof err.throttleWaited === 'number' && err.throttleWaited > 0 ? err.throttleWaited : 0;
  const retryAfterMs = hintMs === undefined ? undefined : Math.max(0, hintMs - waited);

  // The shared catalogue knows Exchange's texts best (fix texts name the exact cmdlets).
  if (text) {
    const known = errorFromServerResponse('imap', text, { appOnly: context.appOnly });
    if (known.kind !== 'unknown') {
      return new M365MailError(`${known.message}${where ? ` (${where})` : ''}`, {
        kind: known.kind, fix: known.fix, code: known.code ?? code, retryable: known.retryable,
        retryAfterMs: retryAfterMs ?? known.retryAfterMs, cause: error,
      });
    }
  } else if (kind === 'network' || kind === 'timeout' || kind === 'tls') {
    const transport = errorFromTransport(error);
    if (transport) {
      return new M365MailError(`${transport.message}${where ? ` (${where})` : ''}`, {
        kind: transport.kind, fix: transport.fix, code, retryable: transport.retryable, cause: error,
      });
    }
  }

  const detail = redactSecrets(text || err.message || 'unknown error');
  return new M365MailError(`IMAP ${where ? where + ': ' : ''}${detail}`, {
    kind,
    fix: FIX[kind],
    code,
    retryable: RETRYABLE.has(kind),
    retryAfterMs,
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
