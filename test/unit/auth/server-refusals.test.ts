import assert from 'node:assert/strict';
import { diagnoseServerRefusal } from '../../../src/core/server-refusals';
import { errorFromServerResponse } from '../../../src/auth/diagnose';
import { toImapError } from '../../../src/imap/errors';
import { classifyPop3Error } from '../../../src/pop3/errors';
import { toPop3PollError, withAccountFix } from '../../../src/pop3/poll-errors';

describe('auth/server-refusals: one catalogue of server refusals for IMAP and POP3', () => {
  const shared: Array<[string, string, string, boolean]> = [
    ['AUTHENTICATE failed.', 'AUTH', 'auth-failed', false],
    ['Authentication failure: unknown user name or bad password.', 'AUTH', 'auth-failed', false],
    ['User is authenticated but not connected.', 'AUTH', 'not-connected', false],
    ['Temporary authentication failure.', 'AUTH', 'server-error', true],
    ['[UNAVAILABLE] Try again later', 'AUTH', 'server-error', true],
    ['Session invalidated - AccessTokenExpired', 'RETR', 'token-expired', true],
    ['Request is throttled. Suggested Backoff Time: 5000 milliseconds', 'UIDL', 'throttled', true],
  ];
  for (const [text, command, kind, retryable] of shared) {
    it(`gives "${text}" the same kind (${kind}), fix and retry advice over IMAP and POP3`, () => {
      const imap = toImapError(Object.assign(new Error('Command failed'), { responseText: text }), { action: 'login' });
      const pop3 = classifyPop3Error(command, `-ERR ${text}`);
      assert.equal(imap.kind, kind);
      assert.equal(pop3.kind, kind);
      assert.equal(pop3.fix, imap.fix);
      assert.ok(imap.fix.length > 40, 'has a fix text');
      assert.equal(imap.retryable, retryable);
      assert.equal(pop3.retryable, retryable);
      assert.equal(pop3.retryAfterMs, imap.retryAfterMs);
    });
  }

  it('keeps the wordings only POP3 has to POP3', () => {
    for (const text of ['-ERR [IN-USE] Mailbox locked', '-ERR Protocol error. Connection is closed. 10']) {
      assert.ok(diagnoseServerRefusal('pop3', text), text);
      assert.equal(diagnoseServerRefusal('imap', text), undefined, text);
    }
    assert.equal(diagnoseServerRefusal('pop3', "-ERR Mailbox doesn't exist"), undefined, 'folders are IMAP only');
  });

  it('treats Exchange\'s one-line-AUTH protocol error as a bug report, not as something a quick retry cures', () => {
    const error = errorFromServerResponse('pop3', '-ERR Protocol error. Connection is closed. 10');
    assert.equal(error.kind, 'protocol-error');
    assert.equal(error.retryable, false);
    assert.match(error.fix, /report a bug/);
    assert.equal(classifyPop3Error('AUTH', '-ERR Protocol error. Connection is closed. 10').fix, error.fix);
  });

  it('covers both flows in the fix of a refused login when the flow is unknown, and one flow when known', () => {
    const unknownFlow = diagnoseServerRefusal('pop3', '-ERR [AUTH] Authentication failed.');
    assert.ok(unknownFlow);
    for (const hint of ['outlook.office.com', 'POP.AccessAsUser.All', 'POP.AccessAsApp', 'Set-CASMailbox', 'New-ServicePrincipal']) {
      assert.ok(unknownFlow.fix.includes(hint), hint);
    }
    const delegated = diagnoseServerRefusal('pop3', '-ERR [AUTH] Authentication failed.', { appOnly: false });
    assert.doesNotMatch(delegated?.fix ?? '', /New-ServicePrincipal/);
    const appOnly = diagnoseServerRefusal('imap', 'A1 NO AUTHENTICATE failed.', { appOnly: true, clientId: 'cid' });
    assert.match(appOnly?.fix ?? '', /New-ServicePrincipal -AppId cid/);
  });

  it('makes the fix of every refused POP3 login concrete for the account\'s flow, whatever Exchange\'s wording', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['-ERR [AUTH] Authentication failed.', 'auth-failed', /user name is the signed-in mailbox/],
      ['-ERR odd answer to AUTH', 'auth-failed', /user name is the signed-in mailbox/],
      ['-ERR Logon failure: user not connected', 'not-connected', /signed-in user's or one it has FullAccess to/],
    ];
    for (const [text, kind, delegatedFix] of cases) {
      const classified = classifyPop3Error('AUTH', text);
      const delegated = withAccountFix(toPop3PollError(classified), false);
      assert.equal(delegated.kind, kind, text);
      assert.equal(delegated.message, classified.message);
      assert.match(delegated.fix, delegatedFix, text);
      assert.doesNotMatch(delegated.fix, /New-ServicePrincipal/, text);
      assert.match(withAccountFix(classified, true).fix, /New-ServicePrincipal/, text);
    }
  });

  it('classifies a POP3 AccessTokenExpired and a throttling answer at once, with the delay to wait', () => {
    const expired = classifyPop3Error('RETR', '-ERR AccessTokenExpired');
    assert.equal(expired.kind, 'token-expired');
    assert.equal(expired.retryAfterMs, 0);
    assert.equal(classifyPop3Error('UIDL', '-ERR [THROTTLED] slow down').retryAfterMs, 60_000);
    assert.equal(classifyPop3Error('UIDL', '-ERR Request is throttled. Suggested Backoff Time: 92415 milliseconds').retryAfterMs, 92_415);
  });

  it('keeps POP3 meanings that depend on the command: an unknown mechanism, a refused STLS, a generic protocol error', () => {
    assert.match(classifyPop3Error('AUTH', '-ERR Unrecognized authentication type').fix, /does not offer SASL XOAUTH2/);
    assert.equal(classifyPop3Error('STLS', '-ERR not supported here').kind, 'tls');
    const retr = classifyPop3Error('RETR', '-ERR Protocol error');
    assert.equal(retr.kind, 'protocol-error');
    assert.doesNotMatch(retr.fix, /XOAUTH2/, 'no AUTH advice for a command that is not AUTH');
  });
});
