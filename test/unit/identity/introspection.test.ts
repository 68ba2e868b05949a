import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { ConfidentialClientApplication } from '@azure/msal-node';
import { APPS, CONTOSO, FABRIKAM, USERS } from '../../env/identity/directory';
import { INTROSPECTION_PATHS, type IdentityServer } from '../../env/identity/server';
import { msalConfig, postForm, startTestIdentityServer } from './helpers';

interface Decision {
  active: boolean;
  username?: string;
  reason?: string;
}

describe('identity server: Dovecot introspection decisions', () => {
  let server: IdentityServer;

  before(async () => {
    server = await startTestIdentityServer();
  });
  after(async () => {
    await server.close();
  });

  async function introspect(mailbox: string, token: string, service: keyof typeof INTROSPECTION_PATHS = 'mail'): Promise<Decision> {
    const res = await postForm(`${server.url}${INTROSPECTION_PATHS[service]}${encodeURIComponent(mailbox)}`, { token });
    assert.equal(res.status, 200);
    return (await res.json()) as Decision;
  }

  async function appToken(app: { clientId: string; secret: string }): Promise<string> {
    const cca = new ConfidentialClientApplication(msalConfig(server, CONTOSO.tenantId, app.clientId, { clientSecret: app.secret }));
    const result = await cca.acquireTokenByClientCredential({ scopes: ['https://outlook.office365.com/.default'] });
    return result!.accessToken;
  }

  it("accepts alice's delegated IMAP token for her own mailbox", async () => {
    assert.deepEqual(await introspect(USERS.alice, server.mintAccessToken({ upn: USERS.alice })), { active: true, username: USERS.alice });
  });

  it("accepts alice's token for the shared mailbox she has FullAccess on", async () => {
    const decision = await introspect(USERS.support, server.mintAccessToken({ upn: USERS.alice, scp: 'POP.AccessAsUser.All' }));
    assert.deepEqual(decision, { active: true, username: USERS.support });
  });

  it("rejects bob's token for alice's mailbox", async () => {
    const decision = await introspect(USERS.alice, server.mintAccessToken({ upn: USERS.bob }));
    assert.equal(decision.active, false);
    assert.match(decision.reason ?? '', /bob@contoso\.com has no FullAccess permission on mailbox alice@contoso\.com/);
  });

  it('rejects a Graph-audience token even with the IMAP scope', async () => {
    const decision = await introspect(USERS.alice, server.mintAccessToken({ upn: USERS.alice, aud: 'https://graph.microsoft.com' }));
    assert.equal(decision.active, false);
    assert.match(decision.reason ?? '', /wrong audience https:\/\/graph\.microsoft\.com/);
  });

  it('rejects an expired token', async () => {
    const past = Math.floor(Date.now() / 1000) - 60;
    const decision = await introspect(USERS.alice, server.mintAccessToken({ upn: USERS.alice, iat: past - 3600, nbf: past - 3600, exp: past }));
    assert.deepEqual(decision, { active: false, reason: 'token expired' });
  });

  it('rejects a delegated token without an IMAP/POP scope and a token signed by another key', async () => {
    assert.match((await introspect(USERS.alice, server.mintAccessToken({ upn: USERS.alice, scp: 'User.Read' }))).reason ?? '', /no IMAP\.AccessAsUser\.All/);
    const forged = forgeToken({ aud: 'https://outlook.office.com', upn: USERS.alice, scp: 'IMAP.AccessAsUser.All' });
    assert.match((await introspect(USERS.alice, forged)).reason ?? '', /signature is not valid/);
  });

  it('accepts the daemon app token for alice and support but not for bob', async () => {
    const token = await appToken(APPS.daemon);
    assert.equal((await introspect(USERS.alice, token)).active, true);
    assert.equal((await introspect(USERS.support, token)).active, true);
    const bob = await introspect(USERS.bob, token);
    assert.equal(bob.active, false);
    assert.match(bob.reason ?? '', /User is authenticated but not connected\. \(app .* has no permission on mailbox bob@contoso\.com\)/);
  });

  it('treats a minted token with roles as app-only', async () => {
    const minted = server.mintAccessToken({ roles: ['IMAP.AccessAsApp'], appid: APPS.daemon.clientId, aud: 'https://outlook.office365.com' });
    assert.deepEqual(await introspect(USERS.support, minted), { active: true, username: USERS.support });
    assert.equal((await introspect(USERS.bob, minted)).active, false);
  });

  it('rejects app tokens without an Exchange service principal or without roles', async () => {
    const noSp = await introspect(USERS.alice, await appToken(APPS.daemonNoServicePrincipal));
    assert.match(noSp.reason ?? '', /User is authenticated but not connected\. \(no Exchange service principal/);
    const noRoles = await introspect(USERS.alice, await appToken(APPS.daemonNoRoles));
    assert.match(noRoles.reason ?? '', /without roles/);
  });

  it('rejects a token of another tenant and an unknown mailbox', async () => {
    const dave = server.mintAccessToken({ upn: USERS.dave });
    assert.match((await introspect(USERS.alice, dave)).reason ?? '', /another tenant/);
    assert.equal((await introspect(USERS.dave, dave)).active, true);
    assert.equal(JSON.parse(Buffer.from(dave.split('.')[1], 'base64url').toString()).tid, FABRIKAM.tenantId);
    assert.match((await introspect('nobody@contoso.com', server.mintAccessToken())).reason ?? '', /mailbox nobody@contoso\.com not found/);
  });

  describe('SMTP submission logins', () => {
    it('accept SMTP.Send (delegated, own mailbox and FullAccess) and refuse reading scopes alone', async () => {
      const sending = server.mintAccessToken({ upn: USERS.alice, scp: 'SMTP.Send' });
      assert.deepEqual(await introspect(USERS.alice, sending, 'smtp'), { active: true, username: USERS.alice });
      assert.equal((await introspect(USERS.support, sending, 'smtp')).active, true);
      const reading = await introspect(USERS.alice, server.mintAccessToken({ upn: USERS.alice }), 'smtp');
      assert.match(reading.reason ?? '', /no SMTP\.Send scope/);
      // ...and a sending scope alone does not read.
      assert.match((await introspect(USERS.alice, sending)).reason ?? '', /no IMAP\.AccessAsUser\.All or POP\.AccessAsUser\.All scope/);
    });

    it('accept SMTP.SendAsApp (app-only, with mailbox permission) and refuse an app with IMAP/POP roles only', async () => {
      const daemon = await appToken(APPS.daemon);
      assert.equal((await introspect(USERS.alice, daemon, 'smtp')).active, true);
      assert.match((await introspect(USERS.bob, daemon, 'smtp')).reason ?? '', /has no permission on mailbox bob@contoso\.com/);
      const reader = await appToken(APPS.daemonReader);
      assert.equal((await introspect(USERS.alice, reader)).active, true);
      assert.match((await introspect(USERS.alice, reader, 'smtp')).reason ?? '', /do not include SMTP\.SendAsApp/);
    });
  });

  it('takes the token from an Authorization header too and counts every introspection', async () => {
    const before = server.stats.introspections;
    const res = await fetch(`${server.url}/_dovecot/introspect/${USERS.alice}`, {
      method: 'POST', headers: { Authorization: `Bearer ${server.mintAccessToken({ upn: USERS.alice })}` },
    });
    assert.deepEqual(await res.json(), { active: true, username: USERS.alice });
    assert.equal(server.stats.introspections, before + 1);
  });

  it('follows tokenLifetimeSec set at runtime when minting', () => {
    server.tokenLifetimeSec = 5;
    const claims = JSON.parse(Buffer.from(server.mintAccessToken().split('.')[1], 'base64url').toString()) as Record<string, number>;
    assert.equal(claims.exp - claims.iat, 5);
    server.tokenLifetimeSec = 3600;
  });
});

/** An RS256 JWT signed by a key the identity server never saw. */
function forgeToken(claims: Record<string, unknown>): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const now = Math.floor(Date.now() / 1000);
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode({ iss: 'x', tid: CONTOSO.tenantId, iat: now, exp: now + 600, ...claims })}`;
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}
