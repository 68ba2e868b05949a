/**
 * Errors that users can act on. Every failure that leaves src/auth, src/imap, src/pop3 or src/mail
 * is (or is wrapped into) an M365MailError with a stable `kind` and a `fix` text that tells the
 * user what to change. Nodes turn these into a node status (the kind) and node.error (message + fix).
 */
export type ErrorKind =
  | 'config'              // invalid or missing configuration (caught before any network traffic)
  | 'tenant-not-found'    // AADSTS90002
  | 'app-not-found'       // AADSTS700016
  | 'invalid-secret'      // AADSTS7000215
  | 'expired-secret'      // AADSTS7000222
  | 'public-client-disabled' // AADSTS7000218
  | 'no-consent'          // AADSTS65001
  | 'invalid-scope'       // AADSTS70011
  | 'mixed-resources'     // AADSTS700022
  | 'mfa-required'        // AADSTS50076
  | 'resource-not-found'  // AADSTS500011
  | 'bad-request'         // AADSTS9001023 and other malformed requests
  | 'invalid-assertion'   // certificate / client assertion problems
  | 'interaction-required'
  | 'sign-in-required'    // delegated flow has no signed-in account (yet)
  | 'sign-in-declined'
  | 'sign-in-expired'
  | 'wrong-audience'      // token for Graph or another resource
  | 'missing-permission'  // token lacks IMAP/POP scope or role
  | 'token-expired'
  | 'invalid-token'       // the access token is not a JWT we can read (explainer only)
  | 'auth-failed'         // server refused the token (AUTHENTICATE failed / -ERR Authentication failure)
  | 'not-connected'       // "User is authenticated but not connected" (service principal / mailbox permission)
  | 'protocol-error'      // "-ERR Protocol error" and other protocol violations
  | 'mailbox-not-found'
  | 'folder-not-found'
  | 'throttled'
  | 'smtp-auth-disabled'  // 535 5.7.139: SMTP AUTH switched off for the tenant or the mailbox
  | 'send-as-denied'      // 554 5.2.0 SendAsDenied / 550 5.7.60: no Send As right for msg.from
  | 'sender-blocked'      // 550 5.1.8: the mailbox is restricted from sending (outbound spam)
  | 'mail-refused'        // the server refused this one mail for good (recipients, size, content)
  | 'network'
  | 'tls'
  | 'timeout'
  | 'server-error'
  | 'identity-server-error'
  | 'disposition-failed'
  | 'action-refused'      // m365-imap-action: the server refused or did not carry out an action
  | 'uidvalidity-changed' // m365-imap-action: the folder was rebuilt since the mail was read
  | 'storage'
  | 'mail-parse'
  | 'unknown';

export interface M365MailErrorOptions {
  kind: ErrorKind;
  /** What the user should do about it: one or two sentences, no secrets. */
  fix?: string;
  /** AADSTS code, IMAP/POP response code, or similar. */
  code?: string;
  /** Whether trying again later (with backoff) can succeed without a config change. */
  retryable?: boolean;
  /** Server's throttling hint, when it gave one. */
  retryAfterMs?: number;
  cause?: unknown;
}

export class M365MailError extends Error {
  readonly kind: ErrorKind;
  readonly fix: string;
  readonly code?: string;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;

  constructor(message: string, options: M365MailErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'M365MailError';
    this.kind = options.kind;
    this.fix = options.fix ?? '';
    this.code = options.code;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }

  /** Message and fix-it text in one line, as shown by node.error. */
  override toString(): string {
    return this.fix ? `${this.message} — ${this.fix}` : this.message;
  }
}

export function isM365MailError(value: unknown): value is M365MailError {
  return value instanceof M365MailError;
}
