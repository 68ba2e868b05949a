import assert from 'node:assert/strict';
import { diagnoseSmtpRefusal } from '../../../src/core/server-refusals';
import { toSmtpFailure } from '../../../src/smtp/errors';
import { explainRefusedLogin } from '../../../src/auth/refused-login';
import { M365MailError } from '../../../src/core/errors';
import { EXCHANGE_SMTP_TEXTS } from '../../env/exchange-smtp';

function jwt(claims: Record<string, unknown>): string {
  const part = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'RS256' })}.${part(claims)}.sig`;
}

describe('smtp refusal catalogue', () => {
  it('knows Exchange\'s refusals: kind, fix, and whether the mail stays queued', () => {
    const cases: Array<[string, 'session' | 'mail', string, string, boolean]> = [
      [EXCHANGE_SMTP_TEXTS.authDisabled('Tenant'), 'session', 'smtp-auth-disabled', 'SmtpClientAuthenticationDisabled $false', false],
      [EXCHANGE_SMTP_TEXTS.authFailed, 'session', 'auth-failed', 'SMTP.Send', false],
      [EXCHANGE_SMTP_TEXTS.basicAuthRefused, 'session', 'auth-failed', 'OAuth', false],
      [EXCHANGE_SMTP_TEXTS.notAuthenticated, 'mail', 'auth-failed', 'STARTTLS and AUTH', true],
      [EXCHANGE_SMTP_TEXTS.sendAsDenied, 'mail', 'send-as-denied', 'Add-RecipientPermission', false],
      [EXCHANGE_SMTP_TEXTS.sendAsNotPermitted, 'mail', 'send-as-denied', 'SendAs', false],
      [EXCHANGE_SMTP_TEXTS.senderBlocked, 'mail', 'sender-blocked', 'Restricted entities', true],
      [EXCHANGE_SMTP_TEXTS.throttled, 'mail', 'throttled', '30 messages a minute', true],
      [EXCHANGE_SMTP_TEXTS.busy, 'mail', 'throttled', 'automatically', true],
      [EXCHANGE_SMTP_TEXTS.tooManyConnections, 'session', 'throttled', 'one connection', true],
      [EXCHANGE_SMTP_TEXTS.tlsRequired, 'mail', 'tls', 'STARTTLS', false],
      [EXCHANGE_SMTP_TEXTS.recipientNotFound('x@contoso.com'), 'mail', 'mail-refused', 'recipients', false],
    ];
    for (const [reply, stage, kind, fixPart, retryable] of cases) {
      const refusal = diagnoseSmtpRefusal(reply, { appOnly: false }, stage);
      assert.ok(refusal, reply);
      assert.equal(refusal.kind, kind, reply);
      assert.ok(refusal.fix.includes(fixPart), `${reply}: ${refusal.fix}`);
      assert.equal(refusal.retryable, retryable, reply);
    }
    assert.equal(diagnoseSmtpRefusal(EXCHANGE_SMTP_TEXTS.recipientNotFound('x@y.z'), {}, 'mail')?.scope, 'mail');
    assert.equal(diagnoseSmtpRefusal(EXCHANGE_SMTP_TEXTS.senderBlocked, {}, 'mail')?.scope, 'session', 'a blocked sender keeps its mail');
    assert.equal(diagnoseSmtpRefusal(EXCHANGE_SMTP_TEXTS.throttled, {}, 'mail')?.scope, 'session');
    assert.equal(diagnoseSmtpRefusal('250 2.0.0 OK'), undefined);
  });

  it('maps nodemailer errors: a refused RCPT refuses the mail, a refused connection keeps it', () => {
    const rcpt = toSmtpFailure(Object.assign(new Error('Can\'t send mail - all recipients were rejected'), { code: 'EENVELOPE', response: EXCHANGE_SMTP_TEXTS.recipientNotFound('x@contoso.com'), responseCode: 550, command: 'RCPT TO', rejected: ['x@contoso.com'] }));
    assert.equal(rcpt.scope, 'mail');
    assert.equal(rcpt.error.kind, 'mail-refused');
    assert.match(rcpt.error.message, /x@contoso\.com/);
    const down = toSmtpFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ESOCKET', originalCode: 'ECONNREFUSED', command: 'CONN' }));
    assert.equal(down.scope, 'session');
    assert.equal(down.error.kind, 'network');
    assert.equal(down.error.retryable, true);
    const cert = toSmtpFailure(Object.assign(new Error('Error initiating TLS - self-signed certificate'), { code: 'ETLS' }));
    assert.equal(cert.error.kind, 'tls');
  });

  it('explains a refused login by the token: Graph audience, missing SMTP.Send, or the mailbox side', () => {
    const refused = new M365MailError('SMTP server refused the access token (535 5.7.3 Authentication unsuccessful).', { kind: 'auth-failed', code: '535 5.7.3' });
    const graph = explainRefusedLogin(refused, jwt({ aud: 'https://graph.microsoft.com', scp: 'Mail.Send' }), 'smtp', undefined, false);
    assert.equal(graph.kind, 'wrong-audience');
    assert.match(graph.fix, /never User\.Read or another Graph scope/);
    const noSmtp = explainRefusedLogin(refused, jwt({ aud: 'https://outlook.office365.com', roles: ['IMAP.AccessAsApp'] }), 'smtp', undefined, true);
    assert.equal(noSmtp.kind, 'missing-permission');
    assert.match(noSmtp.fix, /SMTP\.SendAsApp/);
    const fine = explainRefusedLogin(refused, jwt({ aud: 'https://outlook.office.com', scp: 'SMTP.Send' }), 'smtp', undefined, false);
    assert.equal(fine.kind, 'auth-failed');
    assert.match(fine.fix, /SmtpClientAuthenticationDisabled \$false/);
  });
});
