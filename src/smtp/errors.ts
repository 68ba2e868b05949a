/**
 * What nodemailer's SMTP client throws → an M365MailError with kind and fix, and whether the
 * failure is about the session (the mail stays in the outbox and is retried) or about this one
 * mail (it goes to Catch nodes). Server replies are looked up in the refusal catalogue
 * (core/server-refusals, SMTP section); socket, DNS and TLS failures in the transport table.
 */
import { redactSecrets } from '../auth/redact';
import { M365MailError, isM365MailError } from '../core/errors';
import { diagnoseSmtpRefusal, type RefusalContext } from '../core/server-refusals';
import { classifyTransportError, transportFailure } from '../core/transport-errors';

export type FailureScope = 'session' | 'mail';

export interface SmtpFailure {
  error: M365MailError;
  scope: FailureScope;
}

/** The fields nodemailer puts on its errors. */
interface NodemailerErrorLike {
  message?: string;
  code?: string;
  originalCode?: string;
  response?: string;
  responseCode?: number;
  command?: string;
  rejected?: string[];
}

/** Commands whose refusal is about the mail (envelope or content), not the session. */
const MAIL_COMMANDS = /^(MAIL FROM|RCPT TO|DATA|BDAT|RSET)/i;

const CERTIFICATE_TEXT = /certificate|self[- ]signed|unable to verify|altname|hostname\/IP does not match/i;

/** Maps a failure of connect, login or send. */
export function toSmtpFailure(error: unknown, ctx: RefusalContext = {}): SmtpFailure {
  if (isM365MailError(error)) return { error, scope: 'session' };
  const err: NodemailerErrorLike = typeof error === 'object' && error !== null ? (error as NodemailerErrorLike) : { message: String(error) };
  const response = typeof err.response === 'string' ? err.response : '';
  const stage: FailureScope = err.code === 'EENVELOPE' || err.code === 'EMESSAGE' || MAIL_COMMANDS.test(err.command ?? '') ? 'mail' : 'session';

  if (response && /^\d{3}/.test(response)) {
    const refusal = diagnoseSmtpRefusal(response, ctx, stage);
    if (refusal) {
      const line = redactSecrets(response.replace(/\s+/g, ' ').trim().slice(0, 300));
      const rejected = err.rejected && err.rejected.length > 0 ? ` Refused: ${err.rejected.join(', ')}.` : '';
      return {
        scope: refusal.scope,
        error: new M365MailError(`${refusal.title} Server: "${line}".${rejected}`, {
          kind: refusal.kind, fix: refusal.fix, code: refusal.code, retryable: refusal.retryable, retryAfterMs: refusal.retryAfterMs, cause: error,
        }),
      };
    }
  }

  const detail = redactSecrets(err.message ?? 'unknown error');
  const transport = classifyTransportError({ code: err.originalCode ?? (err.code === 'ETLS' || err.code === 'ECONNECTION' || err.code === 'ESOCKET' ? undefined : err.code), message: err.message })
    ?? (err.code === 'ETLS' ? transportFailure(CERTIFICATE_TEXT.test(detail) ? 'certificate' : 'handshake') : undefined)
    ?? (err.code === 'ETIMEDOUT' ? transportFailure('timeout') : undefined)
    ?? (err.code === 'ECONNECTION' || err.code === 'ESOCKET' || err.code === 'EPROTOCOL' ? (CERTIFICATE_TEXT.test(detail) ? transportFailure('certificate') : transportFailure('dropped')) : undefined);
  if (transport) {
    return {
      scope: 'session',
      error: new M365MailError(`${transport.summary} (SMTP): ${detail}`, {
        kind: transport.kind, fix: transport.name === 'handshake'
          ? 'Check that smtpHost/smtpPort are the SMTP submission endpoint (port 587, STARTTLS). Behind a TLS-inspecting proxy, start Node-RED with NODE_EXTRA_CA_CERTS=/path/to/ca.pem; never turn certificate checks off.'
          : transport.fix,
        code: err.originalCode ?? err.code, retryable: transport.retryable, cause: error,
      }),
    };
  }
  return {
    scope: stage,
    error: new M365MailError(`SMTP: ${detail}`, {
      kind: 'unknown', code: err.code, retryable: stage === 'session', cause: error,
      fix: stage === 'session' ? 'The node tries again with a new connection.' : 'See the server\'s answer.',
    }),
  };
}
