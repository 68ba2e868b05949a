import assert from 'node:assert/strict';
import {
  AuthError, ConfidentialClientApplication, CryptoProvider, PublicClientApplication,
  type AuthenticationResult, type DeviceCodeRequest,
} from '@azure/msal-node';
import { APPS, CONSUMERS_TENANT_ID, CONTOSO, FABRIKAM, USER_PASSWORD, USERS } from '../../env/identity/directory';
import type { IdentityServer } from '../../env/identity/server';
import {
  formAction, inputValue, jwtClaims, msalConfig, postForm, rawPost, msalRejection, startTestIdentityServer,
} from './helpers';

const IMAP = 'https://outlook.office.com/IMAP.AccessAsUser.All';
const POP = 'https://outlook.office.com/POP.AccessAsUser.All';
const REDIRECT_URI = 'http://localhost:53682/callback';

describe('identity server: delegated flows through MSAL', () => {
  let server: IdentityServer;

  beforeEach(async () => {
    server = await startTestIdentityServer();
  });
  afterEach(async () => {
    await server.close();
  });

  const publicClient = (clientId: string = APPS.publicApp.clientId, tenant: string = CONTOSO.tenantId): PublicClientApplication =>
    new PublicClientApplication(msalConfig(server, tenant, clientId));

  /** Runs MSAL's device code flow; `onCode` plays the user (sync approval is seen by the first poll). */
  async function deviceCodeFlow(pca: PublicClientApplication, scopes: string[],
    onCode: (userCode: string, verificationUri: string) => void): Promise<AuthenticationResult | null> {
    const request: DeviceCodeRequest = {
      scopes,
      deviceCodeCallback: (response) => onCode(response.userCode, response.verificationUri),
      timeout: 15,
    };
    return pca.acquireTokenByDeviceCode(request);
  }

  /** Opens the authorize URL, submits the sign-in form and returns the redirect target. */
  async function signInOnAuthorizePage(authUrl: string, username: string, password = USER_PASSWORD): Promise<URL> {
    const page = await fetch(authUrl);
    assert.equal(page.status, 200);
    const html = await page.text();
    const res = await postForm(new URL(formAction(html), server.url).toString(), { ctx: inputValue(html, 'ctx'), username, password });
    assert.equal(res.status, 302, 'sign-in form redirects');
    return new URL(res.headers.get('location') ?? '');
  }

  /** Full auth code + PKCE flow for `pca`; returns MSAL's result. */
  async function authCodeFlow(pca: PublicClientApplication | ConfidentialClientApplication, scopes: string[],
    username: string = USERS.alice): Promise<AuthenticationResult> {
    const { verifier, challenge } = await new CryptoProvider().generatePkceCodes();
    const authUrl = await pca.getAuthCodeUrl({
      scopes, redirectUri: REDIRECT_URI, codeChallenge: challenge, codeChallengeMethod: 'S256', state: 'state-123',
    });
    const location = await signInOnAuthorizePage(authUrl, username);
    assert.equal(location.searchParams.get('state'), 'state-123');
    const code = location.searchParams.get('code');
    assert.ok(code, `redirect carries a code: ${location.searchParams.get('error_description') ?? ''}`);
    return pca.acquireTokenByCode({ code, redirectUri: REDIRECT_URI, scopes, codeVerifier: verifier });
  }

  describe('device code', () => {
    it('signs alice in end to end: MSAL polls until the user approves on the /devicelogin form', async () => {
      let pageHtml: Promise<string> | undefined;
      const result = await deviceCodeFlow(publicClient(), [IMAP, POP], (userCode, verificationUri) => {
        assert.equal(verificationUri, `${server.url}/devicelogin`);
        pageHtml = postForm(verificationUri, { otc: userCode, username: USERS.alice, password: USER_PASSWORD, action: 'continue' })
          .then((res) => res.text());
      });
      assert.ok(result);
      assert.match(await pageHtml!, /You have signed in to the Mail Reader \(public client\) application/);
      assert.equal(result.account?.username, USERS.alice);
      assert.equal(result.account?.tenantId, CONTOSO.tenantId);
      const claims = jwtClaims(result.accessToken);
      assert.equal(claims.aud, 'https://outlook.office.com');
      assert.equal(claims.scp, 'IMAP.AccessAsUser.All POP.AccessAsUser.All');
      assert.equal(claims.upn, USERS.alice);
      assert.equal(claims.appid, APPS.publicApp.clientId);
      // MSAL 7.2 sends grant_type=device_code, not the RFC 8628 URN.
      assert.ok((server.stats.byGrant.device_code ?? 0) >= 1);
    });

    it('reports Cancel as authorization_declined (MSAL only keeps the OAuth error name)', async () => {
      const err = await msalRejection(deviceCodeFlow(publicClient(), [IMAP], (userCode) => server.declineDeviceCode(userCode)));
      assert.ok(err instanceof AuthError);
      assert.equal(err.errorCode, 'post_request_failed');
      assert.match(err.errorMessage, /authorization_declined/);
    });

    it('refuses an app without "Allow public client flows" with AADSTS7000218', async () => {
      const err = await msalRejection(deviceCodeFlow(publicClient(APPS.publicDisabled.clientId), [IMAP], () => undefined));
      assert.match(err.errorMessage, /invalid_client/);
      const code = await rawPost(server, CONTOSO.tenantId, 'devicecode', { client_id: APPS.publicDisabled.clientId, scope: IMAP });
      const poll = await rawPost(server, CONTOSO.tenantId, 'token', {
        grant_type: 'urn:ietf:params:oauth:grant-type:device_code', client_id: APPS.publicDisabled.clientId, device_code: String(code.body.device_code),
      });
      assert.equal(poll.status, 401);
      assert.deepEqual(poll.body.error_codes, [7000218]);
    });

    it('ends with AADSTS65001 when the app has no consent (page shows it, polling returns it)', async () => {
      let pageHtml: Promise<string> | undefined;
      const err = await msalRejection(deviceCodeFlow(publicClient(APPS.noConsent.clientId), [IMAP], (userCode) => {
        pageHtml = postForm(`${server.url}/devicelogin`, { otc: userCode, username: USERS.alice, password: USER_PASSWORD, action: 'continue' })
          .then((res) => res.text());
      }));
      assert.match(err.errorMessage, /invalid_grant/);
      assert.match(await pageHtml!, /AADSTS65001: The user or administrator has not consented/);
    });

    it('answers authorization_pending, then expired_token once the code expired (raw protocol)', async () => {
      server.deviceCodeLifetimeSec = 1;
      const code = await rawPost(server, CONTOSO.tenantId, 'devicecode', { client_id: APPS.publicApp.clientId, scope: `${IMAP} offline_access` });
      assert.equal(code.status, 200);
      assert.equal(code.body.interval, 1);
      assert.equal(code.body.expires_in, 1);
      assert.match(String(code.body.message), /enter the code [A-Z0-9]{9} to authenticate/);
      const poll = (): Promise<{ body: Record<string, unknown> }> => rawPost(server, CONTOSO.tenantId, 'token', {
        grant_type: 'urn:ietf:params:oauth:grant-type:device_code', client_id: APPS.publicApp.clientId, device_code: String(code.body.device_code),
      });
      let answer = await poll();
      assert.equal(answer.body.error, 'authorization_pending');
      const deadline = Date.now() + 5000;
      while (answer.body.error === 'authorization_pending' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        answer = await poll();
      }
      assert.equal(answer.body.error, 'expired_token');
      assert.deepEqual(answer.body.error_codes, [70019]);
    });

    it('signs in users of other tenants via common and personal accounts via consumers', async () => {
      const dave = await deviceCodeFlow(publicClient(APPS.publicApp.clientId, 'common'), [IMAP],
        (userCode) => server.approveDeviceCode(userCode, USERS.dave));
      assert.equal(dave?.account?.tenantId, FABRIKAM.tenantId);
      assert.equal(jwtClaims(dave!.accessToken).iss, `${server.url}/${FABRIKAM.tenantId}/v2.0`);
      const carol = await deviceCodeFlow(publicClient(APPS.publicApp.clientId, 'consumers'), [IMAP],
        (userCode) => server.approveDeviceCode(userCode, USERS.carol));
      assert.equal(carol?.account?.tenantId, CONSUMERS_TENANT_ID);
      assert.throws(() => server.approveDeviceCode('NOSUCHCOD', USERS.alice), /Unknown device user code/);
    });
  });

  describe('authorization code with PKCE', () => {
    it('signs alice in through the authorize page and redeems the code with the verifier', async () => {
      const result = await authCodeFlow(publicClient(), [IMAP]);
      assert.equal(result.account?.username, USERS.alice);
      assert.equal(result.account?.homeAccountId, `${jwtClaims(result.accessToken).oid}.${CONTOSO.tenantId}`);
      assert.equal(jwtClaims(result.accessToken).scp, 'IMAP.AccessAsUser.All');
      assert.deepEqual(result.scopes, [IMAP]);
      assert.equal(jwtClaims(result.idToken).aud, APPS.publicApp.clientId);
      assert.equal(server.stats.byGrant.authorization_code, 1);
    });

    it('lets a confidential web app redeem its code with a secret', async () => {
      const cca = new ConfidentialClientApplication(msalConfig(server, 'contoso.com', APPS.webApp.clientId, { clientSecret: APPS.webApp.secret }));
      const result = await authCodeFlow(cca, [POP], USERS.bob);
      assert.equal(jwtClaims(result.accessToken).upn, USERS.bob);
      assert.equal(jwtClaims(result.accessToken).appidacr, '1');
    });

    it('rejects a wrong code_verifier (AADSTS501481) and a second redemption (AADSTS54005)', async () => {
      const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
      const authUrl = `${server.url}/${CONTOSO.tenantId}/oauth2/v2.0/authorize?${new URLSearchParams({
        client_id: APPS.publicApp.clientId, response_type: 'code', redirect_uri: REDIRECT_URI, scope: `${IMAP} openid offline_access`,
        code_challenge: challenge, code_challenge_method: 'S256',
      })}`;
      const code = (await signInOnAuthorizePage(authUrl, USERS.alice)).searchParams.get('code') ?? '';
      const redeem = (verifier: string): Promise<{ status: number; body: Record<string, unknown> }> => rawPost(server, CONTOSO.tenantId, 'token', {
        grant_type: 'authorization_code', client_id: APPS.publicApp.clientId, code, redirect_uri: REDIRECT_URI, code_verifier: verifier,
        scope: `${IMAP} openid offline_access`,
      });
      assert.deepEqual((await redeem('wrong-verifier-wrong-verifier-wrong-verifier')).body.error_codes, [501481]);
      const ok = await redeem('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk');
      assert.equal(ok.status, 200, JSON.stringify(ok.body.error_description));
      assert.ok(ok.body.refresh_token && ok.body.id_token);
      assert.equal(ok.body.client_info, undefined, 'client_info only when requested');
      assert.deepEqual((await redeem('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).body.error_codes, [54005]);
    });

    it('redirects with consent_required and AADSTS65001 when the app has no consent', async () => {
      const pca = publicClient(APPS.noConsent.clientId);
      const authUrl = await pca.getAuthCodeUrl({ scopes: [IMAP], redirectUri: REDIRECT_URI, state: 's1' });
      const location = await signInOnAuthorizePage(authUrl, USERS.alice);
      assert.equal(location.origin + location.pathname, REDIRECT_URI);
      assert.equal(location.searchParams.get('error'), 'consent_required');
      assert.match(location.searchParams.get('error_description') ?? '', /^AADSTS65001: /);
      assert.equal(location.searchParams.get('state'), 's1');
      assert.equal(location.searchParams.get('code'), null);
    });

    it('shows the sign-in page again on a wrong password and refuses unregistered redirect URIs', async () => {
      const authUrl = await publicClient().getAuthCodeUrl({ scopes: [IMAP], redirectUri: REDIRECT_URI });
      const html = await (await fetch(authUrl)).text();
      const res = await postForm(new URL(formAction(html), server.url).toString(), {
        ctx: inputValue(html, 'ctx'), username: USERS.alice, password: 'wrong',
      });
      assert.equal(res.status, 200);
      assert.match(await res.text(), /id="error"[^>]*>Your account or password is incorrect/);
      const evil = await publicClient().getAuthCodeUrl({ scopes: [IMAP], redirectUri: 'https://evil.example/cb' });
      const errorPage = await fetch(evil, { redirect: 'manual' });
      assert.equal(errorPage.status, 400);
      assert.match(await errorPage.text(), /AADSTS50011/);
    });
  });

  describe('silent refresh', () => {
    it('serves acquireTokenSilent from the cache while the access token is fresh', async () => {
      const pca = publicClient();
      const first = await authCodeFlow(pca, [IMAP]);
      const silent = await pca.acquireTokenSilent({ account: first.account!, scopes: [IMAP] });
      assert.equal(silent.fromCache, true);
      assert.equal(server.stats.byGrant.refresh_token ?? 0, 0);
    });

    it('refreshes once the access token expired (short lifetime) and rotates the refresh token', async () => {
      server.tokenLifetimeSec = 2;
      const pca = publicClient();
      const first = await authCodeFlow(pca, [IMAP]);
      const refreshTokensBefore = cachedRefreshTokens(pca);
      const silent = await pca.acquireTokenSilent({ account: first.account!, scopes: [IMAP] });
      assert.equal(silent.fromCache, false);
      assert.equal(server.stats.byGrant.refresh_token, 1);
      assert.notEqual(silent.accessToken, first.accessToken);
      assert.equal(jwtClaims(silent.accessToken).exp as number - (jwtClaims(silent.accessToken).iat as number), 2);
      assert.notDeepEqual(cachedRefreshTokens(pca), refreshTokensBefore);
    });

    it('gets a Graph-audience token when User.Read is requested alone', async () => {
      const pca = publicClient();
      const first = await authCodeFlow(pca, [IMAP]);
      const graph = await pca.acquireTokenSilent({ account: first.account!, scopes: ['User.Read'] });
      assert.equal(jwtClaims(graph.accessToken).aud, 'https://graph.microsoft.com');
      assert.equal(jwtClaims(graph.accessToken).scp, 'User.Read');
    });

    it('rejects scopes of two resources in one request with AADSTS700022', async () => {
      const pca = publicClient();
      const first = await authCodeFlow(pca, [IMAP]);
      const err = await msalRejection(pca.acquireTokenSilent({ account: first.account!, scopes: [IMAP, 'https://graph.microsoft.com/User.Read'] }));
      assert.equal(err.errorCode, 'invalid_scope');
      assert.equal(err.errorNo, 700022);
    });

    it('rejects .default mixed with other scopes (AADSTS70011)', async () => {
      const pca = publicClient();
      const first = await authCodeFlow(pca, [IMAP]);
      const err = await msalRejection(pca.acquireTokenSilent({ account: first.account!, scopes: ['https://outlook.office.com/.default', IMAP] }));
      assert.equal(err.errorNo, 70011);
    });

    it('needs interaction (AADSTS50076) once MFA becomes required after a sign-in without it', async () => {
      server.tokenLifetimeSec = 2;
      const pca = publicClient();
      const first = await authCodeFlow(pca, [IMAP]);
      server.directory.setUserFlags(USERS.alice, { mfaRequired: true });
      const err = await msalRejection(pca.acquireTokenSilent({ account: first.account!, scopes: [IMAP] }));
      assert.equal(err.name, 'InteractionRequiredAuthError');
      assert.equal(err.errorNo, 50076);
    });

    it('fails with AADSTS65001 after consent is revoked and AADSTS50173 after sessions are revoked', async () => {
      server.tokenLifetimeSec = 2;
      const pca = publicClient();
      const first = await authCodeFlow(pca, [IMAP]);
      server.directory.revokeConsent(APPS.publicApp.clientId, 'exchange');
      const consent = await msalRejection(pca.acquireTokenSilent({ account: first.account!, scopes: [IMAP] }));
      assert.equal(consent.errorNo, 65001);
      assert.equal(consent.subError, 'consent_required');
      server.directory.grantConsent(APPS.publicApp.clientId, 'exchange', ['IMAP.AccessAsUser.All']);
      server.directory.revokeSignInSessions(USERS.alice);
      const revoked = await msalRejection(pca.acquireTokenSilent({ account: first.account!, scopes: [IMAP] }));
      assert.equal(revoked.errorCode, 'invalid_grant');
      assert.equal(revoked.errorNo, 50173);
    });

    it('refuses a refresh without secret for a confidential-only app (AADSTS7000218) and unknown refresh tokens (AADSTS70008)', async () => {
      const cca = new ConfidentialClientApplication(msalConfig(server, CONTOSO.tenantId, APPS.publicDisabled.clientId,
        { clientSecret: APPS.publicDisabled.secret }));
      await authCodeFlow(cca, [IMAP]);
      const [refreshToken] = cachedRefreshTokens(cca);
      const withoutSecret = await rawPost(server, CONTOSO.tenantId, 'token', {
        grant_type: 'refresh_token', client_id: APPS.publicDisabled.clientId, refresh_token: refreshToken, scope: IMAP,
      });
      assert.equal(withoutSecret.status, 401);
      assert.deepEqual(withoutSecret.body.error_codes, [7000218]);
      const withSecret = await rawPost(server, CONTOSO.tenantId, 'token', {
        grant_type: 'refresh_token', client_id: APPS.publicDisabled.clientId, client_secret: APPS.publicDisabled.secret,
        refresh_token: refreshToken, scope: `${IMAP} offline_access`,
      });
      assert.equal(withSecret.status, 200);
      assert.notEqual(withSecret.body.refresh_token, refreshToken);
      const unknown = await rawPost(server, CONTOSO.tenantId, 'token', {
        grant_type: 'refresh_token', client_id: APPS.publicApp.clientId, refresh_token: 'rt.bogus', scope: IMAP,
      });
      assert.equal(unknown.body.error, 'invalid_grant');
      assert.deepEqual(unknown.body.error_codes, [70008]);
    });

    it('answers the password grant with AADSTS50126 for a wrong password and AADSTS50076 when MFA is required', async () => {
      const ropc = (password: string): Promise<{ body: Record<string, unknown> }> => rawPost(server, CONTOSO.tenantId, 'token', {
        grant_type: 'password', client_id: APPS.publicApp.clientId, username: USERS.bob, password, scope: IMAP,
      });
      assert.deepEqual((await ropc('nope')).body.error_codes, [50126]);
      assert.ok((await ropc(USER_PASSWORD)).body.access_token);
      server.directory.setUserFlags(USERS.bob, { mfaRequired: true });
      const mfa = await ropc(USER_PASSWORD);
      assert.deepEqual(mfa.body.error_codes, [50076]);
      assert.equal(mfa.body.suberror, 'basic_action');
    });
  });
});

/** Refresh token secrets in an MSAL app's in-memory cache. */
function cachedRefreshTokens(app: PublicClientApplication | ConfidentialClientApplication): string[] {
  const cache = JSON.parse(app.getTokenCache().serialize()) as { RefreshToken: Record<string, { secret: string }> };
  return Object.values(cache.RefreshToken).map((rt) => rt.secret);
}
