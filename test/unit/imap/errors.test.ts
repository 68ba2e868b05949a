import assert from 'node:assert/strict';
import { toImapError } from '../../../src/imap/errors';
import { redactSecrets } from '../../../src/imap/redact';
import { renewDelay, tokenExpiry } from '../../../src/imap/connection';
import { createImapflowLogger } from '../../../src/imap/logger';

const FAKE_JWT = 'eyJhbGciOiJub25lIn0.eyJleHAiOjE3MDAwMDAwMDB9.c2lnbmF0dXJlc2lnbmF0dXJl';

describe('imap errors and secrets', () => {
  const cases: Array<[string, object, string]> = [
    ['AUTHENTICATE failed', { responseText: 'AUTHENTICATE failed.', authenticationFailed: true }, 'auth-failed'],
    ['not connected', { responseText: 'User is authenticated but not connected.' }, 'not-connected'],
    // Without NAMESPACE after login (the watcher's lean connect), Exchange says it to the SELECT.
    ['not connected, answered to SELECT', { responseStatus: 'BAD', responseText: 'User is authenticated but not connected.', command: 'SELECT' }, 'not-connected'],
    ['AccessTokenExpired BYE', { code: 'NoConnection', reason: 'Session invalidated - AccessTokenExpired' }, 'token-expired'],
    ['missing folder', { responseText: 'Mailbox doesn\'t exist: Nope', mailboxMissing: true }, 'folder-not-found'],
    ['throttled', { responseText: 'Request is throttled. Suggested Backoff Time: 5000 milliseconds' }, 'throttled'],
    ['certificate', { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', message: 'unable to verify the first certificate' }, 'tls'],
    ['refused', { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:993' }, 'network'],
    ['greeting timeout', { code: 'GREETING_TIMEOUT', message: 'Failed to receive greeting' }, 'timeout'],
  ];
  for (const [name, err, kind] of cases) {
    it(`maps ${name} to kind ${kind}`, () => {
      assert.equal(toImapError(Object.assign(new Error('x'), err)).kind, kind);
    });
  }

  it('carries the throttling hint as retryAfterMs', () => {
    const error = toImapError({ responseText: 'Request is throttled. Suggested Backoff Time: 5000 milliseconds' });
    assert.equal(error.retryAfterMs, 5000);
    assert.equal(error.retryable, true);
  });

  it('asks only for the rest of a throttling hint that imapflow already waited out in part', () => {
    const text = 'Request is throttled. Suggested Backoff Time: 5000 milliseconds';
    assert.equal(toImapError({ responseText: text, code: 'ETHROTTLE', throttleReset: 5000, throttleWaited: 5000 }).retryAfterMs, 0);
    assert.equal(toImapError({ responseText: text, code: 'ETHROTTLE', throttleReset: 5000, throttleWaited: 2000 }).retryAfterMs, 3000);
    assert.equal(toImapError({ responseText: text, code: 'ETHROTTLE', throttleReset: 5000, throttleWaited: 2000 }).kind, 'throttled');
  });

  it('never puts a token into an error message or log line', () => {
    const error = toImapError(new Error(`AUTHENTICATE XOAUTH2 ${Buffer.from(`user=a\x01auth=Bearer ${FAKE_JWT}\x01\x01`).toString('base64')}`));
    assert.doesNotMatch(error.message, /eyJ|dXNlcj/);
    assert.equal(redactSecrets(`auth=Bearer ${FAKE_JWT}`), '[redacted]');
    assert.equal(redactSecrets('token s3cr3t-value here', ['s3cr3t-value']), 'token [redacted] here');
    const lines: string[] = [];
    const logger = createImapflowLogger({ debug: (m) => lines.push(m) }, () => ['opaque-token-123']);
    assert.ok(logger);
    logger.debug({ msg: 'C: A1 AUTHENTICATE XOAUTH2 opaque-token-123', cid: 'c1' });
    logger.info({ msg: `Bearer ${FAKE_JWT}` });
    assert.equal(lines.length, 2);
    assert.ok(lines.every((line) => !line.includes('opaque-token-123') && !line.includes(FAKE_JWT)));
  });

  it('reads the expiry of a JWT access token and plans the renewal before it', () => {
    assert.equal(tokenExpiry(FAKE_JWT), 1_700_000_000_000);
    assert.equal(tokenExpiry('opaque'), undefined);
    assert.equal(renewDelay(60 * 60_000, 5 * 60_000), 55 * 60_000);
    assert.equal(renewDelay(8_000, 5 * 60_000), 6_000);
    assert.equal(renewDelay(100, 5 * 60_000), 1_000);
  });

  it('treats a temporary refusal of the login as retryable, not as a wrong token', () => {
    const refused = Object.assign(new Error('Command failed'), { authenticationFailed: true, responseText: 'Temporary authentication failure. [vm:2026-11-23 03:16:21]', serverResponseCode: 'UNAVAILABLE' });
    const error = toImapError(refused, { action: 'login', mailbox: 'alice@contoso.com' });
    assert.equal(error.kind, 'server-error');
    assert.equal(error.retryable, true);
  });

  it('treats a folder deselected under a running check as a closing connection', () => {
    const error = toImapError(Object.assign(new Error('Folder "INBOX" is no longer selected'), { code: 'NoMailboxSelected' }), { action: 'check' });
    assert.equal(error.kind, 'network');
    assert.equal(error.retryable, true);
  });

  it('treats a connection dropped before the greeting as a network error, not a certificate problem', () => {
    const error = toImapError(Object.assign(new Error('Unexpected close'), { code: 'ClosedAfterConnectTLS' }), { action: 'connect' });
    assert.equal(error.kind, 'network');
    assert.equal(error.retryable, true);
  });
});
