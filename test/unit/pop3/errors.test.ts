import assert from 'node:assert/strict';
import { classifyPop3Error, isTlsError, responseCodeOf, socketError } from '../../../src/pop3/errors';

describe('pop3 classifyPop3Error', () => {
  it('maps the Exchange authentication failure to auth-failed with audience, scope and permission advice', () => {
    const error = classifyPop3Error('AUTH', '-ERR Authentication failure: unknown user name or bad password.');
    assert.equal(error.kind, 'auth-failed');
    assert.equal(error.retryable, false);
    assert.match(error.message, /Authentication failure/);
    for (const hint of ['outlook.office.com', 'outlook.office365.com', 'POP.AccessAsUser.All', 'POP.AccessAsApp',
      'POP is enabled', 'New-ServicePrincipal', 'Add-MailboxPermission']) {
      assert.ok(error.fix.includes(hint), `fix mentions ${hint}`);
    }
  });

  it('maps an [AUTH] response code to auth-failed', () => {
    const error = classifyPop3Error('AUTH', '-ERR [AUTH] Authentication failed.');
    assert.equal(error.kind, 'auth-failed');
    assert.equal(error.code, 'AUTH');
  });

  it('maps the one-line AUTH protocol error to protocol-error explaining the two-step AUTH', () => {
    const error = classifyPop3Error('AUTH', '-ERR Protocol error. Connection is closed. 10');
    assert.equal(error.kind, 'protocol-error');
    assert.match(error.fix, /AUTH XOAUTH2.*\+.*own line/s);
  });

  it('maps "not connected" logon failures to not-connected with the service principal fix', () => {
    for (const text of ['-ERR User is authenticated but not connected.', '-ERR Logon failure: user not connected']) {
      const error = classifyPop3Error('AUTH', text);
      assert.equal(error.kind, 'not-connected', text);
      assert.match(error.fix, /New-ServicePrincipal/);
      assert.match(error.fix, /Add-MailboxPermission/);
    }
  });

  it('marks [IN-USE], [SYS/TEMP] and [LOGIN-DELAY] as retryable server errors', () => {
    for (const [text, code] of [['-ERR [IN-USE] Mailbox locked', 'IN-USE'], ['-ERR [SYS/TEMP] Try later', 'SYS/TEMP'],
      ['-ERR [LOGIN-DELAY] Too soon', 'LOGIN-DELAY']]) {
      const error = classifyPop3Error('AUTH', text);
      assert.equal(error.kind, 'server-error', text);
      assert.equal(error.retryable, true, text);
      assert.equal(error.code, code);
    }
  });

  it('treats other -ERR answers as non-retryable server errors', () => {
    const error = classifyPop3Error('RETR', '-ERR no such message');
    assert.equal(error.kind, 'server-error');
    assert.equal(error.retryable, false);
    assert.equal(error.message, 'POP3 RETR failed: -ERR no such message');
    assert.equal(classifyPop3Error('DELE', '-ERR [SYS/PERM] gone').retryable, false);
  });

  it('maps a refused STLS to a tls error and an unknown mechanism to protocol-error', () => {
    assert.equal(classifyPop3Error('STLS', '-ERR not supported here').kind, 'tls');
    assert.equal(classifyPop3Error('AUTH', '-ERR Unrecognized authentication type').kind, 'protocol-error');
  });

  it('reads response codes with or without the -ERR prefix', () => {
    assert.equal(responseCodeOf('-ERR [in-use] x'), 'IN-USE');
    assert.equal(responseCodeOf('[SYS/TEMP] x'), 'SYS/TEMP');
    assert.equal(responseCodeOf('-ERR plain'), undefined);
  });

  it('tells TLS failures from network failures', () => {
    const tls = socketError(Object.assign(new Error('self-signed'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }), 'h', 995);
    assert.equal(tls.kind, 'tls');
    assert.equal(tls.retryable, false);
    const net = socketError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), 'h', 995);
    assert.equal(net.kind, 'network');
    assert.equal(net.retryable, true);
    assert.equal(isTlsError(Object.assign(new Error('x'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' })), true);
  });
});
