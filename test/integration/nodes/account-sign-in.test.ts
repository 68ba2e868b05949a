/**
 * Every sign-in method of m365-account end to end through the Node-RED runtime: app-only accounts
 * read alice's mail with an m365-imap-in; device code and browser sign-in (auth code + PKCE) are
 * started through the admin endpoints the editor uses, the test plays the user on the identity
 * server's pages, and the signed-in account then serves tokens; sign-out forgets it.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { USERS } from '../../env/identity/directory';
import { builtNodes, helper } from '../../support/helper';
import { approveOnDeviceLoginPage, callsOf, getJson, lastStatus, postJson, redeploy, signInOnAuthorizePage, waitFor } from './account-support';
import { useNodeRedBed } from './node-red-bed';

function mail(subject: string): string {
  return [
    'From: Sender <sender@example.com>', `To: ${USERS.alice}`, `Subject: ${subject}`,
    `Message-ID: <${subject.replace(/\W/g, '')}.${Date.now()}@example.com>`, 'Date: Mon, 23 Nov 2026 10:00:00 +0000',
    'Content-Type: text/plain; charset=utf-8', '', `Body of ${subject}`, '',
  ].join('\r\n');
}


describe('m365-account sign-in methods end to end (Node-RED runtime, test bed)', function () {
  this.timeout(20000);
  // A fresh user directory per test; the admin app on a real port for the browser's redirect.
  const { bed, userDir, admin } = useNodeRedBed({ userDirPrefix: 'm365-signin-', settings: { credentialSecret: 'sign-in-test-secret' }, adminApp: true });

  const api = (rest: string): string => `${admin.url}/m365-mail/accounts/acc${rest}`;
  const tokenFile = (): string => path.join(userDir.path, 'm365-mail', 'account-acc.tokens');

  /** A reader in trigger mode: waits until it watches, delivers a mail, triggers, returns the msg. */
  async function readOneMail(subject: string): Promise<Record<string, unknown>> {
    const reader = helper.getNode('in');
    await waitFor(() => lastStatus(reader) === 'common.status.watching', 'the reader to be watching');
    const out = helper.getNode('out');
    const received = new Promise<Record<string, unknown>>((resolve) => out.on('input', resolve));
    await bed.dovecot.deliver(USERS.alice, mail(subject));
    reader.receive({ payload: 'check' });
    return received;
  }

  for (const kind of ['daemon', 'cert'] as const) {
    const label = kind === 'daemon' ? 'client-secret' : 'client-certificate';
    it(`reads alice's mail with a ${label} account`, async function () {
      const account = bed.accountFor(kind);
      const flow = [
        account.node('acc'),
        { id: 'in', type: 'm365-imap-in', account: 'acc', mailbox: account.mailbox, folder: 'INBOX', mode: 'trigger', criteria: 'new', wires: [['out']] },
        { id: 'out', type: 'helper' },
      ];
      await helper.load(builtNodes(), flow, { acc: account.credentials });
      const msg = await readOneMail(`Hello ${label}`);
      assert.equal(msg.topic, `Hello ${label}`);
      assert.equal((msg.mail as { mailbox: string }).mailbox, USERS.alice);
      assert.deepEqual(callsOf(helper.getNode('in'), 'error'), []);
      const signIn = await getJson(api('/sign-in'));
      assert.equal(signIn.body.state, 'signed-out', 'app-only accounts have no signed-in user');
    });
  }

  it('signs in with device code through the admin API, serves tokens, survives a redeploy and signs out', async function () {
    const account = bed.accountFor('public');
    await helper.load(builtNodes(), [account.node('acc')], { acc: {} });
    assert.equal((await getJson(api('/sign-in'))).body.state, 'signed-out');

    const started = await postJson(api('/sign-in'), {});
    assert.equal(started.status, 200, started.text);
    assert.equal(started.body.state, 'pending');
    const userCode = String(started.body.userCode);
    const verificationUri = String(started.body.verificationUri);
    assert.match(verificationUri, /\/devicelogin$/);
    assert.ok(String(started.body.message).includes(userCode), 'Microsoft\'s instruction text names the code');

    const page = await approveOnDeviceLoginPage(verificationUri, userCode, USERS.alice);
    assert.match(page, /Signed in/);
    const signedIn = await waitFor(async () => {
      const status = (await getJson(api('/sign-in'))).body;
      return status.state === 'pending' ? undefined : status;
    }, 'the device code sign-in to finish');
    assert.deepEqual(signedIn, { state: 'signed-in', username: USERS.alice });
    assert.ok(existsSync(tokenFile()), 'the sign-in is stored in the user directory');
    assert.ok(!readFileSync(tokenFile(), 'utf8').includes(USERS.alice), 'stored encrypted');

    // The deployed account (no form sent) uses the new sign-in for the signed-in user's own mailbox.
    const tested = await postJson(api('/test'), { mailbox: '' });
    const steps = tested.body.steps as Array<{ step: string; ok: boolean; detail?: string }>;
    assert.ok(steps.length === 6 && steps.every((s) => s.ok), JSON.stringify(steps, null, 1));
    assert.match(steps.find((s) => s.step === 'explain')?.detail ?? '', /scopes: .*IMAP\.AccessAsUser\.All.*user alice@contoso\.com/);

    // A full redeploy starts new nodes: the reader finds the stored sign-in and reads alice's own mail.
    const deviceCodes = bed.identity.stats.deviceCodeRequests;
    await redeploy([
      account.node('acc'),
      { id: 'in', type: 'm365-imap-in', account: 'acc', mailbox: '', folder: 'INBOX', mode: 'trigger', criteria: 'new', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ], { acc: {} });
    const msg = await readOneMail('Hello device code');
    assert.equal(msg.topic, 'Hello device code');
    assert.equal((msg.mail as { mailbox: string }).mailbox, USERS.alice);
    assert.equal(bed.identity.stats.deviceCodeRequests, deviceCodes, 'no new sign-in after the redeploy');

    const out = await postJson(api('/sign-out'), {});
    assert.deepEqual(out.body, { state: 'signed-out' });
    assert.equal((await getJson(api('/sign-in'))).body.state, 'signed-out');
    assert.ok(!existsSync(tokenFile()) || readFileSync(tokenFile(), 'utf8').trim() === '', 'the stored sign-in is gone');
    const after = (await postJson(api('/test'), { mailbox: USERS.alice })).body.steps as Array<{ step: string; ok: boolean; kind?: string }>;
    const token = after.find((s) => s.step === 'token');
    assert.equal(token?.ok, false);
    assert.equal(token?.kind, 'sign-in-required');
  });

  it('keeps a sign-in made for unsaved settings until they are deployed, and forgets it for another tenant or a deleted account', async function () {
    const account = bed.accountFor('public');
    const byGuid = account.node('acc');
    const byDomain = { ...byGuid, tenant: 'contoso.com' };
    const signInWith = async (body: unknown): Promise<void> => {
      const started = await postJson(api('/sign-in'), body);
      assert.equal(started.body.state, 'pending', started.text);
      bed.identity.approveDeviceCode(String(started.body.userCode), USERS.alice);
      await waitFor(async () => (await getJson(api('/sign-in'))).body.state === 'signed-in', 'the sign-in to finish');
    };
    await helper.load(builtNodes(), [byGuid], { acc: {} });

    // The editor's form names the tenant by domain (not deployed yet): its sign-in shows meanwhile.
    await signInWith({ settings: byDomain });
    assert.deepEqual((await getJson(api('/sign-in'))).body, { state: 'signed-in', username: USERS.alice });
    const undeployed = ((await postJson(api('/test'), { mailbox: '' })).body.steps as Array<{ step: string; kind?: string }>).find((s) => s.step === 'token');
    assert.equal(undeployed?.kind, 'sign-in-required', 'the deployed account (tenant by GUID) has no sign-in');

    // Deployed, the account uses that sign-in.
    await redeploy([byDomain], { acc: {} });
    assert.deepEqual((await getJson(api('/sign-in'))).body, { state: 'signed-in', username: USERS.alice });
    const steps = (await postJson(api('/test'), { mailbox: '' })).body.steps as Array<{ ok: boolean }>;
    assert.ok(steps.length === 6 && steps.every((s) => s.ok), JSON.stringify(steps));

    // Back to another tenant spelling = another binding: the stored sign-in is forgotten.
    await redeploy([byGuid], { acc: {} });
    await waitFor(() => !existsSync(tokenFile()), 'the stale sign-in to be deleted');
    assert.deepEqual((await getJson(api('/sign-in'))).body, { state: 'signed-out' });

    // A deleted account takes its sign-in with it.
    await signInWith({});
    assert.ok(existsSync(tokenFile()));
    await redeploy([], {});
    assert.ok(!existsSync(tokenFile()), 'the sign-in of the deleted account is gone');
  });

  it('reports a device code the user declined as failed with a fix', async function () {
    const account = bed.accountFor('public');
    await helper.load(builtNodes(), [account.node('acc')], { acc: {} });
    const started = await postJson(api('/sign-in'), {});
    bed.identity.declineDeviceCode(String(started.body.userCode));
    const status = await waitFor(async () => {
      const s = (await getJson(api('/sign-in'))).body;
      return s.state === 'pending' ? undefined : s;
    }, 'the declined sign-in to be reported');
    assert.equal(status.state, 'failed');
    assert.match(String(status.error), /declined/);
    assert.match(String(status.fix), /again/);
  });

  it('signs in with the browser (auth code + PKCE) through the callback endpoint and refuses a foreign state', async function () {
    const account = bed.accountFor('public');
    await helper.load(builtNodes(), [{ ...account.node('acc'), authType: 'auth-code' }], { acc: {} });

    const forged = await fetch(`${admin.url}/m365-mail/auth-code/callback?code=abc&state=forged`);
    assert.equal(forged.status, 400);
    const forgedPage = await forged.text();
    assert.match(forgedPage, /state mismatch/);
    assert.match(forgedPage, /Sign in/);

    const started = await postJson(api('/sign-in'), { origin: `${admin.url}/` });
    assert.equal(started.status, 200, started.text);
    assert.equal(started.body.state, 'pending');
    const authUrl = new URL(String(started.body.url));
    assert.equal(authUrl.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(authUrl.searchParams.get('redirect_uri'), `${admin.url}/m365-mail/auth-code/callback`);
    assert.doesNotMatch(authUrl.searchParams.get('scope') ?? '', /graph|User\.Read/i, 'never a Graph scope with the mail scopes');

    const redirect = await signInOnAuthorizePage(authUrl.toString(), USERS.alice);
    assert.equal(`${redirect.origin}${redirect.pathname}`, `${admin.url}/m365-mail/auth-code/callback`);
    const tampered = new URL(redirect);
    tampered.searchParams.set('state', 'x'.repeat(32));
    assert.equal((await fetch(tampered)).status, 400, 'a changed state is refused');

    const callback = await fetch(redirect);
    const html = await callback.text();
    assert.equal(callback.status, 200, html);
    assert.match(html, /Signed in as alice@contoso\.com/);
    assert.ok(!html.includes(redirect.searchParams.get('code') ?? '-'), 'the page does not repeat the code');
    assert.deepEqual((await getJson(api('/sign-in'))).body, { state: 'signed-in', username: USERS.alice });

    const replay = await fetch(redirect);
    assert.equal(replay.status, 400, 'a code and state are good for one sign-in only');

    const steps = (await postJson(api('/test'), { mailbox: '' })).body.steps as Array<{ step: string; ok: boolean }>;
    assert.ok(steps.length === 6 && steps.every((s) => s.ok), JSON.stringify(steps, null, 1));

    await postJson(api('/sign-out'), {});
    assert.equal((await getJson(api('/sign-in'))).body.state, 'signed-out');
    assert.ok(!existsSync(tokenFile()), 'the token file is deleted');
  });

  it('refuses to start a sign-in for an app-only account, saying which method to choose', async function () {
    const account = bed.accountFor('daemon');
    await helper.load(builtNodes(), [account.node('acc')], { acc: account.credentials });
    const response = await postJson(api('/sign-in'), {});
    assert.equal(response.status, 400);
    assert.equal(response.body.kind, 'config');
    assert.match(String(response.body.fix), /device code/);
  });
});
