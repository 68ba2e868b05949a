import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { APPS, CONSUMERS_TENANT_ID, CONTOSO, USERS, USER_PASSWORD } from '../../env/identity/directory';
import type { IdentityServer } from '../../env/identity/server';
import { explainAccessToken } from '../../../src/auth/token-explainer';
import { createTokenProvider, type M365TokenProvider, type TokenProviderDeps } from '../../../src/auth/token-provider';
import type { AuthType } from '../../../src/auth/account-config';
import { customAccount, disposeAfterEach, rejection, signInInBrowser, startTestIdentityServer } from './helpers';

const REDIRECT_URI = 'http://127.0.0.1:1880/m365-mail/auth/callback';
const CACHE_SECRET = 'node-red-credential-secret';

describe('auth integration: delegated sign-in (real MSAL)', function () {
  this.timeout(20_000);
  let server: IdentityServer;
  let dir: string;
  const track = disposeAfterEach();

  function delegated(authType: AuthType, deps: TokenProviderDeps = {}, tenant = 'organizations'): M365TokenProvider {
    return track(createTokenProvider(customAccount(server, { tenant, clientId: APPS.publicApp.clientId, authType }), deps));
  }

  async function deviceCodeSignIn(provider: M365TokenProvider, upn: string = USERS.alice) {
    const session = await provider.startDeviceCode();
    server.approveDeviceCode(session.userCode, upn);
    return session.completion;
  }

  before(async () => { server = await startTestIdentityServer({ deviceCodeIntervalSec: 1 }); });
  after(async () => { await server.close(); });
  beforeEach(() => {
    server.stats.reset();
    dir = mkdtempSync(path.join(tmpdir(), 'm365-delegated-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('signs in with device code end to end and then hands out the delegated token without a new request', async () => {
    const provider = delegated('device-code');
    const session = await provider.startDeviceCode();
    assert.match(session.userCode, /\w{6,}/);
    assert.match(session.verificationUri, /devicelogin/);
    assert.ok(session.message.includes(session.userCode));
    assert.ok(session.expiresAt.getTime() > Date.now());
    server.approveDeviceCode(session.userCode, USERS.alice);
    const account = await session.completion;
    assert.equal(account.username, USERS.alice);
    assert.equal(account.tenantId, CONTOSO.tenantId);
    assert.deepEqual(await provider.getAccount(), account);

    const before = server.stats.tokenRequests;
    const explained = explainAccessToken(await provider.getAccessToken('imap'), { kind: 'delegated', protocol: 'imap' });
    assert.deepEqual(explained.problems, []);
    assert.equal(explained.upn, USERS.alice);
    assert.equal(explained.audience, 'https://outlook.office.com');
    assert.equal(server.stats.tokenRequests, before);
  });

  it('signs in a personal Outlook.com account with tenant "consumers"', async () => {
    const provider = delegated('device-code', {}, 'consumers');
    const account = await deviceCodeSignIn(provider, USERS.carol);
    assert.equal(account.username, USERS.carol);
    assert.equal(account.tenantId, CONSUMERS_TENANT_ID);
    const explained = explainAccessToken(await provider.getAccessToken('pop3'), { kind: 'delegated', protocol: 'pop3' });
    assert.deepEqual(explained.problems, []);
    assert.equal(explained.upn, USERS.carol);
    assert.ok(explained.scopes.includes('POP.AccessAsUser.All'));
  });

  it('reports a declined device code sign-in as sign-in-declined', async () => {
    const provider = delegated('device-code');
    const session = await provider.startDeviceCode();
    server.declineDeviceCode(session.userCode);
    const err = await rejection(session.completion);
    assert.equal(err.kind, 'sign-in-declined');
  });

  it('refuses device code for an app without public client flows, naming the setting', async () => {
    const provider = track(createTokenProvider(customAccount(server, { tenant: CONTOSO.tenantId, clientId: APPS.publicDisabled.clientId, authType: 'device-code' })));
    const err = await rejection(deviceCodeSignIn(provider));
    assert.equal(err.kind, 'public-client-disabled');
    assert.match(err.fix, /Allow public client flows/);
  });

  it('signs in with auth code + PKCE and refuses a response whose state does not match', async () => {
    const provider = delegated('auth-code');
    const start = await provider.startAuthCode(REDIRECT_URI);
    const authUrl = new URL(start.url);
    assert.equal(authUrl.searchParams.get('state'), start.state);
    assert.equal(authUrl.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(authUrl.searchParams.get('code_challenge'));
    assert.doesNotMatch(authUrl.searchParams.get('scope') ?? '', /User\.Read|graph/i);

    const query = await signInInBrowser(start.url, USERS.alice, USER_PASSWORD);
    const forged = await rejection(provider.completeAuthCode({ code: query.get('code') ?? '', state: 'forged-state' }));
    assert.equal(forged.code, 'state_mismatch');
    assert.equal(server.stats.tokenRequests, 0, 'a mismatched state never reaches the token endpoint');

    const account = await provider.completeAuthCode({ code: query.get('code') ?? '', state: query.get('state') ?? '' });
    assert.equal(account.username, USERS.alice);
    const explained = explainAccessToken(await provider.getAccessToken('pop3'), { kind: 'delegated', protocol: 'pop3' });
    assert.deepEqual(explained.problems, []);

    const replay = await rejection(provider.completeAuthCode({ code: query.get('code') ?? '', state: query.get('state') ?? '' }));
    assert.equal(replay.code, 'state_mismatch', 'a state is good for one sign-in only');
  });

  it('maps an error redirect (user cancelled) to sign-in-declined', async () => {
    const provider = delegated('auth-code');
    const { state } = await provider.startAuthCode(REDIRECT_URI);
    const err = await rejection(provider.completeAuthCode({ error: 'access_denied', error_description: 'AADSTS65004: User declined to consent.', state }));
    assert.equal(err.kind, 'sign-in-declined');
  });

  it('restores the signed-in account from the encrypted cache file after a restart without a new sign-in', async () => {
    const cacheFile = path.join(dir, 'account.cache');
    const first = delegated('device-code', { cacheFile, cacheSecret: CACHE_SECRET });
    await deviceCodeSignIn(first);
    const firstToken = await first.getAccessToken('imap');
    first.dispose();
    const stored = readFileSync(cacheFile, 'utf8');
    assert.ok(!stored.includes(firstToken), 'the access token is not stored in clear');
    assert.doesNotMatch(stored, /refresh_token|RefreshToken|alice@contoso\.com/, 'nothing readable in the file');

    server.stats.reset();
    const restarted = delegated('device-code', { cacheFile, cacheSecret: CACHE_SECRET });
    assert.equal((await restarted.getAccount())?.username, USERS.alice);
    const token = await restarted.getAccessToken('imap');
    assert.equal(explainAccessToken(token).upn, USERS.alice);
    assert.equal(server.stats.deviceCodeRequests, 0);

    const refreshed = await restarted.getAccessToken('imap', { forceRefresh: true });
    assert.equal(explainAccessToken(refreshed).upn, USERS.alice);
    assert.equal(server.stats.byGrant.refresh_token, 1, 'the restored refresh token works');
  });

  it('refreshes silently right after a sign-in and after each refresh while the sign-in is kept in a file', async () => {
    const cacheFile = path.join(dir, 'account.cache');
    const provider = delegated('device-code', { cacheFile, cacheSecret: CACHE_SECRET, forceRefreshDebounceMs: 0 });
    await deviceCodeSignIn(provider);
    server.stats.reset();
    for (let round = 1; round <= 3; round++) {
      const token = await provider.getAccessToken('imap', { forceRefresh: true });
      assert.equal(explainAccessToken(token).upn, USERS.alice);
      assert.equal(server.stats.byGrant.refresh_token, round);
    }
  });

  it('hands out a newly issued token when the sign-in cannot be stored, and warns once', async () => {
    const folder = path.join(dir, 'state');
    const cacheFile = path.join(folder, 'account.cache');
    const warnings: string[] = [];
    const provider = delegated('device-code', { cacheFile, cacheSecret: CACHE_SECRET, forceRefreshDebounceMs: 0, logger: { warn: (m) => warnings.push(m) } });
    await deviceCodeSignIn(provider);
    // The folder becomes unusable (as a full disk or a read-only mount would make it).
    rmSync(folder, { recursive: true, force: true });
    writeFileSync(folder, '');

    server.stats.reset();
    const refreshed = await provider.getAccessToken('imap', { forceRefresh: true });
    assert.equal(server.stats.byGrant.refresh_token, 1, 'a new token was issued');
    assert.equal(explainAccessToken(refreshed).upn, USERS.alice);
    const again = await provider.getAccessToken('pop3', { forceRefresh: true });
    assert.equal(explainAccessToken(again).upn, USERS.alice);
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0] ?? '', /sign-in could not be (?:stored|read)/);
    assert.ok(!warnings[0]?.includes(refreshed), 'no token in the warning');
  });

  it('does not use a stored sign-in for another client ID or with another secret, and signOut clears it', async () => {
    const cacheFile = path.join(dir, 'account.cache');
    const first = delegated('device-code', { cacheFile, cacheSecret: CACHE_SECRET });
    await deviceCodeSignIn(first);

    const otherSecret = delegated('device-code', { cacheFile, cacheSecret: 'another secret' });
    assert.equal(await otherSecret.getAccount(), undefined);
    assert.equal((await rejection(otherSecret.getAccessToken('imap'))).kind, 'sign-in-required');

    const otherTenant = delegated('device-code', { cacheFile, cacheSecret: CACHE_SECRET }, CONTOSO.tenantId);
    assert.equal(await otherTenant.getAccount(), undefined);

    await first.signOut();
    assert.equal(await first.getAccount(), undefined);
    assert.equal((await rejection(first.getAccessToken('imap'))).kind, 'sign-in-required');
    const afterSignOut = delegated('device-code', { cacheFile, cacheSecret: CACHE_SECRET });
    assert.equal(await afterSignOut.getAccount(), undefined);
  });
});
