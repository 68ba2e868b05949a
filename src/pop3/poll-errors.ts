/**
 * Turns whatever a poll step threw into an M365MailError the poller can act on. The POP3 client
 * already classifies server answers (src/pop3/errors with the shared catalogue); this adds what a
 * poller needs on top: a throttling delay and `AccessTokenExpired` (it calls for a new token) for
 * errors that reached it another way, and fix texts for the account's flow.
 */
import { M365MailError, isM365MailError } from '../core/errors';
import { DEFAULT_THROTTLE_BACKOFF_MS, serverRefusal } from '../core/server-refusals';
import { parseThrottleHint } from '../core/backoff';
import { explainRefusedLogin } from '../auth/refused-login';
import type { AccessTokenSource } from '../auth/token-source';

/** How long to hold off after a throttling answer that named no delay (the shared catalogue's default). */
export const DEFAULT_THROTTLE_DELAY_MS = DEFAULT_THROTTLE_BACKOFF_MS;

/**
 * Maps any thrown value to an M365MailError. Errors that are already classified keep their kind,
 * fix text and message (which never hold a token).
 * @param action what the poller was doing, for errors that arrive unclassified
 */
export function toPop3PollError(error: unknown, action = 'poll'): M365MailError {
  if (isM365MailError(error)) {
    // An error classified without Exchange's words in view (e.g. a closed connection) that carries them.
    if (/AccessTokenExpired/i.test(error.message) && error.kind !== 'token-expired') {
      const expired = serverRefusal('token-expired', 'pop3');
      return new M365MailError(error.message, {
        kind: expired.kind, fix: expired.fix, code: expired.code, retryable: expired.retryable, retryAfterMs: expired.retryAfterMs, cause: error,
      });
    }
    if (error.kind === 'throttled' && error.retryAfterMs === undefined) {
      const hint = parseThrottleHint(error.message);
      return new M365MailError(error.message, {
        kind: 'throttled',
        fix: error.fix,
        code: error.code,
        retryable: true,
        retryAfterMs: hint?.retryAfterMs ?? DEFAULT_THROTTLE_DELAY_MS,
        cause: error,
      });
    }
    return error;
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new M365MailError(`POP3 ${action} failed: ${reason}`, { kind: 'unknown', retryable: true, cause: error });
}

/** Whether a failed login is worth one more try with a token fetched anew (a cached one may be stale). */
export function callsForFreshToken(error: M365MailError): boolean {
  return error.kind === 'token-expired' || error.kind === 'auth-failed';
}

/**
 * Makes the fix text of a refused login concrete for the account's flow (app-only or delegated):
 * the client classifies without knowing the flow, so its fix covers both. Other errors, errors
 * whose fix is concrete already (explained by the token), and any error when the flow is unknown,
 * are returned unchanged.
 */
export function withAccountFix(error: M365MailError, appOnly: boolean | undefined): M365MailError {
  if (appOnly === undefined || (error.kind !== 'auth-failed' && error.kind !== 'not-connected')) return error;
  if (error.fix !== serverRefusal(error.kind, 'pop3').fix) return error;
  const fix = serverRefusal(error.kind, 'pop3', { appOnly }).fix;
  return new M365MailError(error.message, {
    kind: error.kind, fix, code: error.code, retryable: error.retryable, retryAfterMs: error.retryAfterMs, cause: error,
  });
}

/**
 * A refused POP3 login explained by the token that was sent (see explainRefusedLogin, shared with
 * IMAP and SMTP): wrong audience or missing permission by name, else the mailbox-side causes.
 * `source` tells what the account's tokens should look like; without it the token speaks alone.
 */
export function explainRefusedToken(error: M365MailError, accessToken: string, source?: AccessTokenSource, appOnly?: boolean): M365MailError {
  return explainRefusedLogin(error, accessToken, 'pop3', source?.expectedToken?.(), appOnly);
}
