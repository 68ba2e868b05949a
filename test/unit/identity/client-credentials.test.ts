import assert from 'node:assert/strict';
import { ConfidentialClientApplication, ServerError } from '@azure/msal-node';
import { APPS, CONTOSO, FABRIKAM } from '../../env/identity/directory';
import type { IdentityServer } from '../../env/identity/server';
import { jwtClaims, makeCertificate, msalConfig, rawPost, msalRejection, startTestIdentityServer, type TestCertificate } from './helpers';

const EXCHANGE_DEFAULT = 'https://outlook.office365.com/.default';

describe('identity server: client credentials through MSAL', () => {
  let server: IdentityServer;

  beforeEach(async () => {
    server = await startTestIdentityServer();
  });
  afterEach(async () => {
    await server.close();
  });

  const daemon = (tenant: string, secret: string = APPS.daemon.secret): ConfidentialClientApplication =>
    new ConfidentialClientApplication(msalConfig(server, tenant, APPS.daemon.clientId, { clientSecret: secret }));

  it('issues an app-only Exchange token with IMAP/POP/SMTP roles for a secret, tenant given by GUID', async () => {
    const result = await daemon(CONTOSO.tenantId).acquireTokenByClientCredential({ scopes: [EXCHANGE_DEFAULT] });
    assert.ok(result);
    const claims = jwtClaims(result.accessToken);
    assert.equal(claims.aud, 'https://outlook.office365.com');
    assert.deepEqual(claims.roles, ['IMAP.AccessAsApp', 'POP.AccessAsApp', 'SMTP.SendAsApp']);
    assert.equal(claims.tid, CONTOSO.tenantId);
    assert.equal(claims.appid, APPS.daemon.clientId);
    assert.equal(claims.iss, `${server.url}/${CONTOSO.tenantId}/v2.0`);
    assert.equal(claims.scp, undefined);
    assert.equal(server.stats.byGrant.client_credentials, 1);
    assert.equal(server.stats.byClient[APPS.daemon.clientId], 1);
  });

  it('accepts a verified domain as tenant and resolves it to the tenant GUID', async () => {
    const result = await daemon('contoso.com').acquireTokenByClientCredential({ scopes: [EXCHANGE_DEFAULT] });
    assert.equal(jwtClaims(result!.accessToken).tid, CONTOSO.tenantId);
  });

  it('serves the second request from the MSAL cache without a token request', async () => {
    const app = daemon(CONTOSO.tenantId);
    await app.acquireTokenByClientCredential({ scopes: [EXCHANGE_DEFAULT] });
    const again = await app.acquireTokenByClientCredential({ scopes: [EXCHANGE_DEFAULT] });
    assert.equal(again!.fromCache, true);
    assert.equal(server.stats.tokenRequests, 1);
  });

  it('reports a wrong secret as AADSTS7000215 through MSAL ServerError fields', async () => {
    const err = await msalRejection(daemon(CONTOSO.tenantId, 'not-the-secret').acquireTokenByClientCredential({ scopes: [EXCHANGE_DEFAULT] }));
    assert.ok(err instanceof ServerError);
    assert.equal(err.errorCode, 'invalid_client');
    assert.equal(err.errorNo, 7000215);
    assert.equal(err.status, 401);
    assert.match(err.errorMessage, /AADSTS7000215: Invalid client secret provided/);
    assert.doesNotMatch(err.errorMessage, /not-the-secret/);
  });

  it('reports an expired secret as AADSTS7000222', async () => {
    const err = await msalRejection(daemon(CONTOSO.tenantId, APPS.daemon.expiredSecret).acquireTokenByClientCredential({ scopes: [EXCHANGE_DEFAULT] }));
    assert.equal(err.errorNo, 7000222);
    assert.match(err.errorMessage, /are expired/);
  });

  it('reports an app used in another tenant as AADSTS700016', async () => {
    const err = await msalRejection(daemon(FABRIKAM.tenantId).acquireTokenByClientCredential({ scopes: [EXCHANGE_DEFAULT] }));
    assert.equal(err.errorCode, 'unauthorized_client');
    assert.equal(err.errorNo, 700016);
    assert.match(err.errorMessage, /was not found in the directory 'Fabrikam'/);
  });

  it('issues a token without roles to an app without application permissions, as Entra does', async () => {
    const app = new ConfidentialClientApplication(msalConfig(server, CONTOSO.tenantId, APPS.daemonNoRoles.clientId,
      { clientSecret: APPS.daemonNoRoles.secret }));
    const result = await app.acquireTokenByClientCredential({ scopes: [EXCHANGE_DEFAULT] });
    assert.equal(jwtClaims(result!.accessToken).roles, undefined);
  });

  it('reports an unknown tenant through MSAL as endpoints_resolution_error (discovery answered AADSTS90002)', async () => {
    const err = await msalRejection(daemon('nosuchtenant.example').acquireTokenByClientCredential({ scopes: [EXCHANGE_DEFAULT] }));
    assert.equal(err.errorCode, 'endpoints_resolution_error');
    assert.equal(server.stats.tokenRequests, 0);
    const discovery = await fetch(`${server.url}/nosuchtenant.example/v2.0/.well-known/openid-configuration`);
    assert.equal(discovery.status, 400);
    const body = (await discovery.json()) as { error: string; error_codes: number[] };
    assert.equal(body.error, 'invalid_tenant');
    assert.deepEqual(body.error_codes, [90002]);
  });

  it('refuses common in MSAL itself before any request; the server answers AADSTS9001023', async () => {
    const err = await msalRejection(daemon('common').acquireTokenByClientCredential({ scopes: [EXCHANGE_DEFAULT] }));
    assert.equal(err.errorCode, 'missing_tenant_id_error');
    for (const tenant of ['common', 'organizations', 'consumers']) {
      const raw = await rawPost(server, tenant, 'token', {
        grant_type: 'client_credentials', client_id: APPS.daemon.clientId, client_secret: APPS.daemon.secret, scope: EXCHANGE_DEFAULT,
      });
      assert.equal(raw.status, 400);
      assert.deepEqual(raw.body.error_codes, [9001023], tenant);
    }
  });

  it('rejects a non-.default scope (AADSTS1002012) and an unknown resource (AADSTS500011)', async () => {
    const delegatedScope = await msalRejection(daemon(CONTOSO.tenantId).acquireTokenByClientCredential({
      scopes: ['https://outlook.office365.com/IMAP.AccessAsUser.All'],
    }));
    assert.equal(delegatedScope.errorNo, 1002012);
    const otherCloud = await msalRejection(daemon(CONTOSO.tenantId).acquireTokenByClientCredential({
      scopes: ['https://outlook.office365.us/.default'],
    }));
    assert.equal(otherCloud.errorCode, 'invalid_resource');
    assert.equal(otherCloud.errorNo, 500011);
    assert.match(otherCloud.errorMessage, /resource principal named https:\/\/outlook\.office365\.us was not found in the tenant named Contoso/);
  });

  it('answers 429 with Retry-After and an Entra body; MSAL then throttles itself for that long', async () => {
    server.faults.rateLimit = { count: 1, retryAfterSec: 30 };
    const raw = await rawPost(server, CONTOSO.tenantId, 'token', {
      grant_type: 'client_credentials', client_id: APPS.daemon.clientId, client_secret: APPS.daemon.secret, scope: EXCHANGE_DEFAULT,
    });
    assert.equal(raw.status, 429);
    assert.equal(raw.headers.get('retry-after'), '30');
    assert.equal(raw.body.error, 'temporarily_unavailable');
    assert.match(String(raw.body.error_description), /^AADSTS90055: .*\r\nTrace ID: .*\r\nCorrelation ID: .*\r\nTimestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/s);

    server.faults.rateLimit = { count: 1, retryAfterSec: 30 };
    const app = daemon(CONTOSO.tenantId);
    const first = await msalRejection(app.acquireTokenByClientCredential({ scopes: [EXCHANGE_DEFAULT] }));
    assert.equal(first.errorNo, 90055);
    const requestsSoFar = server.stats.tokenRequests;
    const second = await msalRejection(app.acquireTokenByClientCredential({ scopes: [EXCHANGE_DEFAULT] }));
    assert.ok(second instanceof ServerError);
    assert.equal(server.stats.tokenRequests, requestsSoFar, 'MSAL answered from its throttling cache');
  });

  it('answers 500 for fail500Count requests, then recovers', async () => {
    server.faults.fail500Count = 1;
    const raw = await rawPost(server, CONTOSO.tenantId, 'token', {
      grant_type: 'client_credentials', client_id: APPS.daemon.clientId, client_secret: APPS.daemon.secret, scope: EXCHANGE_DEFAULT,
    });
    assert.equal(raw.status, 500);
    assert.deepEqual(raw.body.error_codes, [90033]);
    const ok = await rawPost(server, CONTOSO.tenantId, 'token', {
      grant_type: 'client_credentials', client_id: APPS.daemon.clientId, client_secret: APPS.daemon.secret, scope: EXCHANGE_DEFAULT,
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.token_type, 'Bearer');
    assert.equal(ok.body.expires_in, 3600);
  });

  it('puts the correlation id MSAL sends into the error body', async () => {
    const err = await msalRejection(daemon(CONTOSO.tenantId, 'wrong').acquireTokenByClientCredential({
      scopes: [EXCHANGE_DEFAULT], correlationId: '11111111-2222-3333-4444-555555555555',
    }));
    assert.match(err.errorMessage, /Correlation ID: 11111111-2222-3333-4444-555555555555/);
  });

  it('reports a missing credential as AADSTS7000216 and a public client sending a secret as AADSTS700025', async () => {
    const none = await rawPost(server, CONTOSO.tenantId, 'token', {
      grant_type: 'client_credentials', client_id: APPS.daemon.clientId, scope: EXCHANGE_DEFAULT,
    });
    assert.equal(none.status, 401);
    assert.deepEqual(none.body.error_codes, [7000216]);
    const publicWithSecret = await rawPost(server, CONTOSO.tenantId, 'token', {
      grant_type: 'client_credentials', client_id: APPS.publicApp.clientId, client_secret: 'x', scope: EXCHANGE_DEFAULT,
    });
    assert.deepEqual(publicWithSecret.body.error_codes, [700025]);
  });
});

describe('identity server: certificate credentials through MSAL', () => {
  let server: IdentityServer;
  let cert: TestCertificate;
  let otherCert: TestCertificate;
  let thumbprintSha256: string;
  let thumbprintSha1: string;

  before(async () => {
    server = await startTestIdentityServer();
    cert = makeCertificate('certApp');
    otherCert = makeCertificate('not registered');
    ({ thumbprintSha256, thumbprintSha1 } = server.directory.registerCertificate(APPS.certApp.clientId, cert.certPem));
  });
  after(async () => {
    await server.close();
    cert.cleanup();
    otherCert.cleanup();
  });

  const certApp = (clientCertificate: NonNullable<Parameters<typeof msalConfig>[3]>['clientCertificate']): ConfidentialClientApplication =>
    new ConfidentialClientApplication(msalConfig(server, 'contoso.onmicrosoft.com', APPS.certApp.clientId, { clientCertificate }));

  it('accepts a PS256 assertion signed with the registered certificate (SHA-256 thumbprint)', async () => {
    const result = await certApp({ thumbprintSha256, privateKey: cert.privateKeyPem, x5c: cert.certPem })
      .acquireTokenByClientCredential({ scopes: [EXCHANGE_DEFAULT] });
    const claims = jwtClaims(result!.accessToken);
    assert.deepEqual(claims.roles, ['IMAP.AccessAsApp', 'POP.AccessAsApp', 'SMTP.SendAsApp']);
    assert.equal(claims.appidacr, '2');
  });

  it('accepts an RS256 assertion with a SHA-1 thumbprint', async () => {
    const result = await certApp({ thumbprint: thumbprintSha1, privateKey: cert.privateKeyPem })
      .acquireTokenByClientCredential({ scopes: [EXCHANGE_DEFAULT] });
    assert.equal(jwtClaims(result!.accessToken).appid, APPS.certApp.clientId);
  });

  it('rejects an assertion signed by a key other than the registered certificate (AADSTS700027)', async () => {
    const err = await msalRejection(certApp({ thumbprintSha256, privateKey: otherCert.privateKeyPem })
      .acquireTokenByClientCredential({ scopes: [EXCHANGE_DEFAULT] }));
    assert.equal(err.errorNo, 700027);
    assert.match(err.errorMessage, /signature/);
  });

  it('rejects an unregistered certificate thumbprint (AADSTS700027 key not found)', async () => {
    const err = await msalRejection(certApp({ thumbprintSha256: 'AB'.repeat(32), privateKey: cert.privateKeyPem })
      .acquireTokenByClientCredential({ scopes: [EXCHANGE_DEFAULT] }));
    assert.equal(err.errorNo, 700027);
    assert.match(err.errorMessage, /The key was not found/);
  });
});
