import assert from 'node:assert/strict';
import { APPS, CONTOSO } from '../../env/identity/directory';
import type { IdentityServer } from '../../env/identity/server';
import { explainAccessToken } from '../../../src/auth/token-explainer';
import { createTokenProvider, type M365TokenProvider, type TokenProviderDeps } from '../../../src/auth/token-provider';
import { customAccount, disposeAfterEach, makeCertificate, rejection, startTestIdentityServer } from './helpers';

describe('auth integration: app-only token providers (real MSAL)', function () {
  this.timeout(20_000);
  let server: IdentityServer;
  const track = disposeAfterEach();

  before(async () => { server = await startTestIdentityServer(); });
  after(async () => { await server.close(); });
  beforeEach(() => { server.stats.reset(); });
  afterEach(() => {
    server.faults.fail500Count = 0;
    server.faults.rateLimit.count = 0;
    server.tokenLifetimeSec = 3600;
  });

  function daemon(tenant: string, secret = APPS.daemon.secret, deps: TokenProviderDeps = {}): M365TokenProvider {
    return track(createTokenProvider(customAccount(server, {
      tenant, clientId: APPS.daemon.clientId, authType: 'client-secret', credentials: { clientSecret: secret },
    }), deps));
  }

  it('gets an app-only IMAP/POP token with a client secret, tenant given by GUID', async () => {
    const token = await daemon(CONTOSO.tenantId).getAccessToken('imap');
    const explained = explainAccessToken(token, { kind: 'app-only', protocol: 'imap', resource: 'https://outlook.office365.com' });
    assert.deepEqual(explained.problems, []);
    assert.equal(explained.kind, 'app-only');
    assert.equal(explained.tenantId, CONTOSO.tenantId);
    assert.ok(explained.roles.includes('IMAP.AccessAsApp'));
    assert.equal(server.stats.byGrant.client_credentials, 1);
  });

  it('gets the same kind of token with the tenant given by domain', async () => {
    const token = await daemon('contoso.com').getAccessToken('pop3');
    const explained = explainAccessToken(token, { kind: 'app-only', protocol: 'pop3' });
    assert.equal(explained.tenantId, CONTOSO.tenantId);
    assert.deepEqual(explained.problems, []);
  });

  it('authenticates with a certificate (SHA-256 thumbprint, openssl-made key)', async () => {
    const cert = makeCertificate('m365-mail auth test');
    const { thumbprintSha256 } = server.directory.registerCertificate(APPS.certApp.clientId, cert.certPem);
    const provider = track(createTokenProvider(customAccount(server, {
      tenant: CONTOSO.tenantId, clientId: APPS.certApp.clientId, authType: 'client-certificate',
      certificateThumbprint: thumbprintSha256.match(/../g)?.join(':'), credentials: { privateKey: cert.privateKeyPem },
    })));
    const explained = explainAccessToken(await provider.getAccessToken('imap'), { kind: 'app-only', protocol: 'imap' });
    assert.equal(explained.appId, APPS.certApp.clientId);
    assert.deepEqual(explained.problems, []);
  });

  it('refuses a wrong secret as invalid-secret with the *Value* fix and without the secret in the text', async () => {
    const wrong = 'Wrong8Q~aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    const err = await rejection(daemon(CONTOSO.tenantId, wrong).getAccessToken('imap'));
    assert.equal(err.kind, 'invalid-secret');
    assert.equal(err.code, 'AADSTS7000215');
    assert.match(err.fix, /\*Value\*, not the Secret ID/);
    assert.ok(!err.toString().includes(wrong));
  });

  it('reports an expired secret as expired-secret', async () => {
    const err = await rejection(daemon(CONTOSO.tenantId, APPS.daemon.expiredSecret).getAccessToken('imap'));
    assert.equal(err.kind, 'expired-secret');
  });

  it('reports an unknown tenant as tenant-not-found although MSAL only says openid_config_error', async () => {
    const err = await rejection(daemon('00000000-0000-4000-8000-000000000001').getAccessToken('imap'));
    assert.equal(err.kind, 'tenant-not-found');
    assert.match(err.fix, /Overview/);
  });

  it('shares one token request between 20 concurrent and later calls', async () => {
    const provider = daemon(CONTOSO.tenantId);
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => provider.getAccessToken(i % 2 ? 'imap' : 'pop3')));
    for (let i = 0; i < 5; i++) tokens.push(await provider.getAccessToken('imap'));
    assert.equal(new Set(tokens).size, 1);
    assert.equal(server.stats.tokenRequests, 1);
  });

  it('renews a token once its short lifetime is nearly over, and not before', async () => {
    server.tokenLifetimeSec = 3;
    let now = 1_000_000;
    const provider = daemon(CONTOSO.tenantId, APPS.daemon.secret, { now: () => now });
    const first = await provider.getAccessToken('imap');
    now += 1000;
    assert.equal(await provider.getAccessToken('imap'), first);
    assert.equal(server.stats.tokenRequests, 1);
    now += 2500; // past 3 s - 25 %
    const second = await provider.getAccessToken('imap');
    assert.notEqual(second, first);
    assert.equal(server.stats.tokenRequests, 2);
  });

  it('forces one refresh after a server refused the token, sharing it between callers', async () => {
    let now = 1_000_000;
    const provider = daemon(CONTOSO.tenantId, APPS.daemon.secret, { now: () => now });
    const first = await provider.getAccessToken('imap');
    now += 60_000;
    const [a, b] = await Promise.all([
      provider.getAccessToken('imap', { forceRefresh: true }),
      provider.getAccessToken('pop3', { forceRefresh: true }),
    ]);
    assert.notEqual(a, first);
    assert.equal(a, b);
    assert.equal(await provider.getAccessToken('imap', { forceRefresh: true }), a, 'a refresh just happened');
    assert.equal(server.stats.tokenRequests, 2);
  });

  it('maps HTTP 429 to throttled with retryAfterMs from Retry-After', async () => {
    server.faults.rateLimit = { count: 1, retryAfterSec: 7 };
    const err = await rejection(daemon(CONTOSO.tenantId).getAccessToken('imap'));
    assert.equal(err.kind, 'throttled');
    assert.equal(err.retryable, true);
    assert.equal(err.retryAfterMs, 7000);
  });

  it('maps HTTP 500 to a retryable identity-server-error', async () => {
    server.faults.fail500Count = 1;
    const err = await rejection(daemon(CONTOSO.tenantId).getAccessToken('imap'));
    assert.equal(err.kind, 'identity-server-error');
    assert.equal(err.retryable, true);
  });

  it('maps an unreachable identity server to a retryable network error', async () => {
    const provider = track(createTokenProvider({
      cloud: 'custom', authorityHost: 'https://127.0.0.1:1', tenant: CONTOSO.tenantId,
      clientId: APPS.daemon.clientId, credentials: { clientSecret: APPS.daemon.secret },
    }));
    const err = await rejection(provider.getAccessToken('imap'));
    assert.equal(err.kind, 'network');
    assert.equal(err.retryable, true);
  });
});
