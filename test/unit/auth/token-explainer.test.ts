import assert from 'node:assert/strict';
import { explainAccessToken } from '../../../src/auth/token-explainer';

function unsignedJwt(payload: Record<string, unknown>): string {
  const seg = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${seg({ alg: 'RS256', typ: 'JWT' })}.${seg(payload)}.c2lnbmF0dXJl`;
}

const NOW = Date.UTC(2025, 0, 1, 12, 0, 0);
const nowSec = NOW / 1000;

describe('auth/token-explainer', () => {
  it('explains a good delegated Exchange token without problems', () => {
    const token = unsignedJwt({
      aud: 'https://outlook.office.com', tid: 'tenant-1', appid: 'app-1', upn: 'alice@contoso.com',
      scp: 'IMAP.AccessAsUser.All POP.AccessAsUser.All', iat: nowSec - 60, exp: nowSec + 3600,
    });
    const e = explainAccessToken(token, { now: NOW, protocol: 'imap' });
    assert.equal(e.kind, 'delegated');
    assert.equal(e.audience, 'https://outlook.office.com');
    assert.equal(e.tenantId, 'tenant-1');
    assert.equal(e.appId, 'app-1');
    assert.equal(e.upn, 'alice@contoso.com');
    assert.deepEqual(e.scopes, ['IMAP.AccessAsUser.All', 'POP.AccessAsUser.All']);
    assert.equal(e.expiresAt?.getTime(), (nowSec + 3600) * 1000);
    assert.equal(e.issuedAt?.getTime(), (nowSec - 60) * 1000);
    assert.deepEqual(e.problems, []);
  });

  it('explains a good app-only token by its roles', () => {
    const token = unsignedJwt({ aud: 'https://outlook.office365.com', roles: ['IMAP.AccessAsApp', 'POP.AccessAsApp'], azp: 'app-2', exp: nowSec + 60 });
    const e = explainAccessToken(token, { now: NOW, protocol: 'pop3', resource: 'https://outlook.office365.com' });
    assert.equal(e.kind, 'app-only');
    assert.equal(e.appId, 'app-2');
    assert.deepEqual(e.roles, ['IMAP.AccessAsApp', 'POP.AccessAsApp']);
    assert.deepEqual(e.problems, []);
  });

  it('names a Graph audience as wrong-audience with the outlook.office.com fix', () => {
    const token = unsignedJwt({ aud: '00000003-0000-0000-c000-000000000000', scp: 'User.Read Mail.Read', exp: nowSec + 60 });
    const e = explainAccessToken(token, { now: NOW });
    assert.equal(e.problems.length, 1);
    assert.equal(e.problems[0].kind, 'wrong-audience');
    assert.match(e.problems[0].message, /Microsoft Graph/);
    assert.match(e.problems[0].fix, /outlook\.office\.com/);
    assert.match(e.problems[0].fix, /never User\.Read/);
  });

  it('reports a token for another resource than the expected one', () => {
    const token = unsignedJwt({ aud: 'https://outlook.office365.com', roles: ['IMAP.AccessAsApp'], exp: nowSec + 60 });
    const e = explainAccessToken(token, { now: NOW, resource: 'https://outlook.office365.us' });
    assert.deepEqual(e.problems.map((p) => p.kind), ['wrong-audience']);
  });

  it('names a missing delegated IMAP scope with the Office 365 Exchange Online fix', () => {
    const token = unsignedJwt({ aud: 'https://outlook.office.com', scp: 'POP.AccessAsUser.All', exp: nowSec + 60 });
    const e = explainAccessToken(token, { now: NOW, protocol: 'imap' });
    assert.deepEqual(e.problems.map((p) => p.kind), ['missing-permission']);
    assert.match(e.problems[0].message, /IMAP\.AccessAsUser\.All/);
    assert.match(e.problems[0].fix, /"Office 365 Exchange Online"/);
    assert.match(e.problems[0].fix, /admin consent/);
  });

  it('names missing IMAP.AccessAsApp/POP.AccessAsApp roles for app-only tokens', () => {
    const token = unsignedJwt({ aud: 'https://outlook.office365.com', roles: ['full_access_as_app'], exp: nowSec + 60 });
    const e = explainAccessToken(token, { now: NOW, kind: 'app-only' });
    assert.equal(e.problems[0].kind, 'missing-permission');
    assert.match(e.problems[0].message, /IMAP\.AccessAsApp or POP\.AccessAsApp/);
    assert.match(e.problems[0].fix, /Application permission/);
  });

  it('reports an expired token as token-expired and retryable', () => {
    const token = unsignedJwt({ aud: 'https://outlook.office.com', scp: 'IMAP.AccessAsUser.All', exp: nowSec - 1 });
    const e = explainAccessToken(token, { now: NOW });
    assert.deepEqual(e.problems.map((p) => p.kind), ['token-expired']);
    assert.equal(e.problems[0].retryable, true);
  });

  it('reports a string that is not a JWT', () => {
    for (const token of ['EwBwA8l6BAAU-opaque', 'a.b', 'x.!!!.y']) {
      const e = explainAccessToken(token);
      assert.equal(e.problems[0].kind, 'invalid-token');
      assert.deepEqual(e.scopes, []);
    }
  });

  it('never includes the token in the explanation', () => {
    const token = unsignedJwt({ aud: 'https://graph.microsoft.com', scp: 'User.Read', exp: nowSec - 5 });
    const serialized = JSON.stringify(explainAccessToken(token, { now: NOW }), (_k, v: unknown) => (v instanceof Error ? { ...v, message: v.message } : v));
    assert.ok(!serialized.includes(token));
    assert.ok(!serialized.includes(token.split('.')[1]));
  });
});
