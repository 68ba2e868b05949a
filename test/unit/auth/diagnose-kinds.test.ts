/**
 * The error kinds issue 3 names, as MSAL really delivers them (InteractionRequiredAuthError for
 * consent and MFA, ClientAuthError before any request), and the fix texts users act on.
 */
import assert from 'node:assert/strict';
import { ClientAuthError, InteractionRequiredAuthError, ServerError } from '@azure/msal-node';
import { errorFromMsal, errorFromServerResponse } from '../../../src/auth/diagnose';

const ISSUE_AADSTS = ['700016', '7000215', '7000222', '7000218', '90002', '65001', '70011', '700022', '50076', '500011', '9001023', '50194'];

function entraDescription(code: string): string {
  return `AADSTS${code}: First sentence of the description. Second sentence.\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2026-01-01 00:00:00Z`;
}

describe('auth/diagnose: the error kinds of issue 3', () => {
  it('gives every listed AADSTS code a specific kind and a fix text of its own', () => {
    const fixes = new Set<string>();
    for (const code of ISSUE_AADSTS) {
      const mapped = errorFromMsal(new ServerError('invalid_request', 'corr', entraDescription(code), undefined, code, 400), { clientId: 'cid', tenant: 'contoso.com' });
      assert.notEqual(mapped.kind, 'unknown', code);
      assert.equal(mapped.code, `AADSTS${code}`);
      assert.ok(mapped.fix.length > 40, `${code} has a fix text`);
      assert.match(mapped.message, /First sentence of the description/);
      assert.doesNotMatch(mapped.toString(), /Trace ID|Correlation ID|Timestamp/, `${code}: no trace noise`);
      fixes.add(mapped.fix);
    }
    assert.equal(fixes.size, ISSUE_AADSTS.length, 'no two codes share a generic fix text');
  });

  it('maps consent_required from InteractionRequiredAuthError with AADSTS65001 to no-consent', () => {
    const err = new InteractionRequiredAuthError('invalid_grant', 'corr', entraDescription('65001'), 'consent_required', undefined, undefined, undefined, '65001');
    const mapped = errorFromMsal(err);
    assert.equal(mapped.kind, 'no-consent');
    assert.match(mapped.fix, /Grant admin consent/);
  });

  it('maps an MFA demand during a silent refresh (AADSTS50076, basic_action) to mfa-required', () => {
    const err = new InteractionRequiredAuthError('invalid_grant', 'corr', entraDescription('50076'), 'basic_action', undefined, undefined, undefined, '50076');
    const mapped = errorFromMsal(err);
    assert.equal(mapped.kind, 'mfa-required');
    assert.match(mapped.fix, /Sign in again/);
  });

  it('maps MSAL refusing an app-only request on common (missing_tenant_id_error) to config, naming the tenant ID', () => {
    const mapped = errorFromMsal(new ClientAuthError('missing_tenant_id_error', 'corr'));
    assert.equal(mapped.kind, 'config');
    assert.match(mapped.fix, /Tenant ID/);
  });

  it('maps a consent_required OAuth error without AADSTS code to no-consent', () => {
    assert.equal(errorFromMsal(new ServerError('consent_required', 'corr', 'consent needed')).kind, 'no-consent');
  });

  it('gives a delegated "authenticated but not connected" a mailbox fix instead of the service principal fix', () => {
    const e = errorFromServerResponse('imap', 'A1 NO User is authenticated but not connected.', { appOnly: false });
    assert.equal(e.kind, 'not-connected');
    assert.match(e.fix, /FullAccess/);
    assert.doesNotMatch(e.fix, /New-ServicePrincipal/);
  });

  it('never repeats an access token that a server refusal line happens to contain', () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJlLXRoYXQtaXMtbG9uZy1lbm91Z2g';
    const e = errorFromServerResponse('pop3', `-ERR Authentication failure: unknown user name or bad password. ${token}`);
    assert.equal(e.kind, 'auth-failed');
    assert.ok(!e.toString().includes(token));
  });
});
