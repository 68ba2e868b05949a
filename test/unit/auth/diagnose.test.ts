import assert from 'node:assert/strict';
import { AuthError, InteractionRequiredAuthError, ServerError } from '@azure/msal-node';
import { errorFromMsal, errorFromServerResponse, errorFromTransport } from '../../../src/auth/diagnose';
import type { ErrorKind } from '../../../src/core/errors';

/** A ServerError laid out the way MSAL builds it from an Entra error body. */
function serverError(error: string, code: number, text: string, status = 400, suberror?: string): ServerError {
  const description = `AADSTS${code}: ${text}\r\nTrace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2025-01-01 00:00:00Z`;
  return new ServerError(error, 'corr', `Error(s): ${code} - Timestamp: x - Description: ${description} - Correlation ID: 2 - Trace ID: 1`, suberror, String(code), status);
}

const CASES: Array<[number, string, ErrorKind, RegExp]> = [
  [700016, 'unauthorized_client', 'app-not-found', /Application \(client\) ID/],
  [7000215, 'invalid_client', 'invalid-secret', /copy the secret \*Value\*, not the Secret ID/i],
  [7000222, 'invalid_client', 'expired-secret', /new client secret/],
  [7000218, 'invalid_client', 'public-client-disabled', /"Allow public client flows"/],
  [90002, 'invalid_request', 'tenant-not-found', /tenant GUID.*Entra admin center.*Overview/],
  [65001, 'invalid_grant', 'no-consent', /Grant admin consent/],
  [70011, 'invalid_scope', 'invalid-scope', /never add Graph scopes/],
  [700022, 'invalid_scope', 'mixed-resources', /Graph scopes such as User\.Read need a separate token/],
  [50076, 'invalid_grant', 'mfa-required', /MFA/],
  [500011, 'invalid_resource', 'resource-not-found', /Exchange Online/],
  [9001023, 'invalid_request', 'bad-request', /tenant ID/],
  [50194, 'invalid_request', 'bad-request', /tenant ID/],
  [700027, 'invalid_client', 'invalid-assertion', /Certificates & secrets/],
];

describe('auth/diagnose', () => {
  describe('errorFromMsal', () => {
    for (const [code, oauth, kind, fix] of CASES) {
      it(`maps AADSTS${code} to ${kind} with a concrete fix`, () => {
        const mapped = errorFromMsal(serverError(oauth, code, 'Some text. More text.'), { clientId: 'cid', tenant: 'contoso' });
        assert.equal(mapped.kind, kind);
        assert.equal(mapped.code, `AADSTS${code}`);
        assert.match(mapped.fix, fix);
        assert.match(mapped.message, new RegExp(`AADSTS${code}: Some text\\)`));
        assert.equal(mapped.retryable, false);
      });
    }

    it('finds the AADSTS code in the message when errorNo is missing', () => {
      const err = new AuthError('invalid_client', 'corr', 'Description: AADSTS7000215: Invalid client secret provided.');
      assert.equal(errorFromMsal(err).kind, 'invalid-secret');
    });

    it('maps invalid_grant (refresh token expired or revoked) to sign-in-required', () => {
      const err = new InteractionRequiredAuthError('invalid_grant', 'corr', 'The refresh token has been revoked.');
      const mapped = errorFromMsal(err);
      assert.equal(mapped.kind, 'sign-in-required');
      assert.match(mapped.fix, /Sign in again/);
      assert.equal(errorFromMsal(serverError('invalid_grant', 700082, 'The refresh token has expired due to inactivity.')).kind, 'sign-in-required');
    });

    it('maps authorization_declined and expired_token of the device code flow', () => {
      assert.equal(errorFromMsal(new ServerError('authorization_declined', 'c', 'declined')).kind, 'sign-in-declined');
      assert.equal(errorFromMsal(new ServerError('expired_token', 'c', 'expired')).kind, 'sign-in-expired');
      assert.equal(errorFromMsal(new AuthError('device_code_expired', 'c')).kind, 'sign-in-expired');
    });

    it('maps HTTP 429 to throttled with retryAfterMs from Retry-After', () => {
      const mapped = errorFromMsal(new ServerError('', 'c', 'too many'), { httpStatus: 429, retryAfterMs: 7000 });
      assert.equal(mapped.kind, 'throttled');
      assert.equal(mapped.retryable, true);
      assert.equal(mapped.retryAfterMs, 7000);
    });

    it('maps 5xx and temporarily_unavailable to a retryable identity-server-error', () => {
      const mapped = errorFromMsal(new ServerError('server_error', 'c', 'boom', undefined, undefined, 503), { retryAfterMs: 2000 });
      assert.equal(mapped.kind, 'identity-server-error');
      assert.equal(mapped.retryable, true);
      assert.equal(mapped.retryAfterMs, 2000);
      assert.equal(errorFromMsal(new ServerError('temporarily_unavailable', 'c', 'x')).retryable, true);
    });

    it('maps network failures to retryable network or timeout errors using the transport cause', () => {
      const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
      const net = errorFromMsal(new AuthError('network_error', 'c', 'Network request failed'), { transportError: refused });
      assert.equal(net.kind, 'network');
      assert.equal(net.retryable, true);
      const timedOut = Object.assign(new Error('No answer'), { code: 'ETIMEDOUT' });
      assert.equal(errorFromMsal(new AuthError('endpoints_resolution_error', 'c'), { transportError: timedOut }).kind, 'timeout');
      assert.equal(errorFromMsal(new AuthError('network_error', 'c')).kind, 'network');
    });

    it('maps certificate errors to tls with the NODE_EXTRA_CA_CERTS fix', () => {
      const tls = errorFromTransport(Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }));
      assert.equal(tls?.kind, 'tls');
      assert.match(tls?.fix ?? '', /NODE_EXTRA_CA_CERTS/);
    });

    it('restores the AADSTS code from the last server response when MSAL dropped it', () => {
      const err = new AuthError('openid_config_error', 'c', 'Could not retrieve endpoints.');
      const mapped = errorFromMsal(err, { serverError: { error: 'invalid_tenant', aadsts: '90002', description: "AADSTS90002: Tenant 'x' not found. Check it." } });
      assert.equal(mapped.kind, 'tenant-not-found');
      assert.match(mapped.message, /AADSTS90002: Tenant 'x' not found\)/);
      const polling = errorFromMsal(new AuthError('post_request_failed', 'c', 'invalid_client'), { serverError: { error: 'invalid_client', aadsts: '7000218' } });
      assert.equal(polling.kind, 'public-client-disabled');
    });

    it('keeps unknown errors as kind unknown with their code', () => {
      const mapped = errorFromMsal(new AuthError('something_new', 'c', 'odd'));
      assert.equal(mapped.kind, 'unknown');
      assert.equal(mapped.code, 'something_new');
    });
  });

  describe('errorFromServerResponse', () => {
    it('maps IMAP "AUTHENTICATE failed" to auth-failed naming permissions and Set-CASMailbox', () => {
      const e = errorFromServerResponse('imap', 'A1 NO AUTHENTICATE failed.', { appOnly: true, clientId: 'cid' });
      assert.equal(e.kind, 'auth-failed');
      assert.match(e.fix, /IMAP\.AccessAsApp/);
      assert.match(e.fix, /Set-CASMailbox/);
      assert.match(e.fix, /New-ServicePrincipal -AppId cid/);
    });

    it('maps "User is authenticated but not connected" to not-connected with the service principal fix', () => {
      const e = errorFromServerResponse('imap', 'A2 BAD User is authenticated but not connected.', { clientId: 'cid' });
      assert.equal(e.kind, 'not-connected');
      assert.match(e.fix, /New-ServicePrincipal -AppId cid -ObjectId <object ID of the Enterprise Application, not of the App registration>/);
      assert.match(e.fix, /Add-MailboxPermission -Identity <mailbox> -User <service principal id> -AccessRights FullAccess/);
    });

    it('maps BYE AccessTokenExpired to a retryable token-expired', () => {
      const e = errorFromServerResponse('imap', '* BYE Session invalidated - AccessTokenExpired');
      assert.equal(e.kind, 'token-expired');
      assert.equal(e.retryable, true);
      assert.match(e.fix, /fresh token/);
    });

    it('maps the POP3 authentication failure line to auth-failed', () => {
      const e = errorFromServerResponse('pop3', '-ERR Authentication failure: unknown user name or bad password.', { appOnly: false });
      assert.equal(e.kind, 'auth-failed');
      assert.match(e.fix, /POP\.AccessAsUser\.All/);
    });

    it('maps POP3 "Protocol error. Connection is closed" to protocol-error explaining two-step AUTH', () => {
      const e = errorFromServerResponse('pop3', '-ERR Protocol error. Connection is closed. 10');
      assert.equal(e.kind, 'protocol-error');
      assert.match(e.fix, /AUTH XOAUTH2.*\+/);
    });

    it('maps throttling with the suggested backoff, or a default backoff', () => {
      const e = errorFromServerResponse('imap', 'A3 NO [THROTTLED] Request is throttled. Suggested Backoff Time: 27358 milliseconds');
      assert.equal(e.kind, 'throttled');
      assert.equal(e.retryable, true);
      assert.equal(e.retryAfterMs, 27358);
      assert.equal(errorFromServerResponse('pop3', '-ERR Request is throttled.').retryAfterMs, 60_000);
    });

    it('keeps unknown server texts as unknown with the text', () => {
      const e = errorFromServerResponse('imap', 'A4 NO Something else happened');
      assert.equal(e.kind, 'unknown');
      assert.match(e.message, /Something else happened/);
    });
  });
});
