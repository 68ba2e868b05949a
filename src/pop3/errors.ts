/**
 * POP3 failures as M365MailError values. `classifyPop3Error` is pure (text in, error out) so the
 * mapping from server wording to a kind and a fix text can be tested without a server.
 */
import { M365MailError } from '../auth/errors';

const FIX_AUTH_FAILED =
  'The POP3 server refused the access token. Check that the token was issued for the resource ' +
  'https://outlook.office.com (or https://outlook.office365.com) with the permission ' +
  'POP.AccessAsUser.All (delegated) or POP.AccessAsApp (app-only), that POP is enabled for the mailbox ' +
  '(Set-CASMailbox -PopEnabled $true), and for app-only access that the app is registered in Exchange ' +
  '(New-ServicePrincipal) and has FullAccess to the mailbox (Add-MailboxPermission).';

const FIX_NOT_CONNECTED =
  'The token was accepted but Exchange will not open the mailbox for this identity. For app-only access ' +
  'register the app in Exchange Online (New-ServicePrincipal -AppId <client id> -ObjectId <enterprise app ' +
  'object id>) and grant it FullAccess (Add-MailboxPermission -Identity <mailbox> -User <service principal> ' +
  '-AccessRights FullAccess); check that the mailbox address is right and that POP is enabled for it.';

const FIX_PROTOCOL =
  'The server rejected the command syntax. XOAUTH2 over POP3 must be sent in two steps: "AUTH XOAUTH2", ' +
  'wait for "+", then the base64 response on its own line (Exchange refuses the one-line form). ' +
  'If this persists, check pop3Host/pop3Port point at a POP3 server.';

const FIX_NO_XOAUTH2 =
  'The server does not offer SASL XOAUTH2 for POP3. Check pop3Host and pop3Port (Exchange Online: ' +
  'outlook.office365.com, port 995).';

const FIX_IN_USE =
  'Another POP3 session holds the mailbox lock. Make sure only one client polls this mailbox; the next ' +
  'attempt usually succeeds once the other session ends.';

const FIX_TEMPORARY = 'The server reported a temporary problem; the next attempt usually succeeds.';

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

/**
 * Turns a `-ERR` answer into an M365MailError with a kind the node can act on and a fix text.
 * `commandName` is the POP3 keyword that was answered (`AUTH`, `RETR`, …; `GREETING` for the banner).
 * `text` is the server line, with or without the leading `-ERR`; it never holds a secret.
 */
export function classifyPop3Error(commandName: string, text: string): M365MailError {
  const command = commandName.toUpperCase();
  const detail = stripStatus(text).trim();
  const code = responseCodeOf(detail);
  const message = `POP3 ${command} failed: -ERR ${detail}`.trimEnd();

  if (/protocol error/i.test(detail)) {
    return new M365MailError(message, { kind: 'protocol-error', fix: FIX_PROTOCOL, code });
  }
  if (/not connected/i.test(detail) || (/logon failure/i.test(detail) && !/bad password/i.test(detail))) {
    return new M365MailError(message, { kind: 'not-connected', fix: FIX_NOT_CONNECTED, code });
  }
  if (code === 'IN-USE') {
    return new M365MailError(message, { kind: 'server-error', fix: FIX_IN_USE, code, retryable: true });
  }
  if (code === 'SYS/TEMP' || code === 'LOGIN-DELAY' || /unavailable|try again|temporar/i.test(detail)) {
    return new M365MailError(message, { kind: 'server-error', fix: FIX_TEMPORARY, code, retryable: true });
  }
  if (/throttl/i.test(detail)) {
    return new M365MailError(message, { kind: 'throttled', fix: FIX_TEMPORARY, code, retryable: true });
  }
  if (command === 'AUTH' && /unrecognized authentication|unsupported|not supported|unknown mechanism/i.test(detail)) {
    return new M365MailError(message, { kind: 'protocol-error', fix: FIX_NO_XOAUTH2, code });
  }
  if (
    code === 'AUTH' ||
    /authentication fail|bad password|invalid credentials|unknown user/i.test(detail) ||
    command === 'AUTH'
  ) {
    return new M365MailError(message, { kind: 'auth-failed', fix: FIX_AUTH_FAILED, code });
  }
  if (command === 'STLS') {
    return new M365MailError(message, { kind: 'tls', fix: FIX_STLS, code });
  }
  return new M365MailError(message, { kind: 'server-error', code });
}

const TLS_ERROR_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

/** Whether a socket error came from TLS (certificate, handshake) rather than from the network. */
export function isTlsError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return TLS_ERROR_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_');
}

/** Wraps a socket-level failure (refused, reset, DNS, TLS) into an M365MailError. */
export function socketError(error: unknown, host: string, port: number): M365MailError {
  if (error instanceof M365MailError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const codeText = typeof code === 'string' ? code : undefined;
  const reason = error instanceof Error ? error.message : String(error);
  if (isTlsError(error)) {
    return new M365MailError(`TLS with POP3 server ${host}:${port} failed: ${reason}`, {
      kind: 'tls',
      code: codeText,
      cause: error,
      fix:
        'The server certificate was not accepted. Check pop3Host (it must match the certificate); behind a ' +
        'TLS-inspecting proxy, trust its CA (NODE_EXTRA_CA_CERTS) rather than turning verification off.',
    });
  }
  return new M365MailError(`Connection to POP3 server ${host}:${port} failed: ${reason}`, {
    kind: 'network',
    code: codeText,
    cause: error,
    retryable: true,
    fix: 'Check the host name, port, firewall and proxy settings; the next attempt may succeed if the network recovers.',
  });
}

/** The connection ended while a command waited for its answer, or before one could be sent. */
export function connectionClosedError(detail: string): M365MailError {
  return new M365MailError(`POP3 connection closed: ${detail}`, { kind: 'network', retryable: true });
}

/** The server did not answer within the step's time limit. */
export function timeoutError(step: string, timeoutMs: number): M365MailError {
  return new M365MailError(`POP3 server did not answer ${step} within ${timeoutMs} ms`, {
    kind: 'timeout',
    retryable: true,
    fix: 'The server or the network is slow or stalled; the next attempt may succeed. Raise the timeout if it keeps happening.',
  });
}

/** The server sent something this client cannot interpret. */
export function protocolError(detail: string): M365MailError {
  return new M365MailError(`POP3 protocol error: ${detail}`, { kind: 'protocol-error' });
}
