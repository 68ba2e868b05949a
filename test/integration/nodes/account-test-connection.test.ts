/**
 * "Test connection" of m365-account through the Node-RED runtime: the admin endpoint runs every
 * step against the test bed and answers with kinds and fix texts, never with a token or a secret.
 */
import assert from 'node:assert/strict';
import { resolveEndpoints } from '../../../src/auth/clouds';
import type { M365TokenProvider } from '../../../src/auth/token-provider';
import { runConnectionTest } from '../../../src/diagnostics/connection-test';
import { APPS, CONTOSO, USERS } from '../../env/identity/directory';
import type { TestBed } from '../../env/testbed';
import { builtNodes, helper } from '../../support/helper';
import { leaksIn, postJson, useIssuedSecrets } from './account-support';
import { useNodeRedBed, useTestBed } from './node-red-bed';

interface Step {
  step: string;
  ok: boolean;
  detail?: string;
  fix?: string;
  kind?: string;
}

const stepsOf = (body: Record<string, unknown>): Step[] => (body.steps as Step[] | undefined) ?? [];
const step = (steps: Step[], name: string): Step => {
  const found = steps.find((s) => s.step === name);
  assert.ok(found, `step ${name} in ${JSON.stringify(steps)}`);
  return found;
};

describe('m365-account Test connection endpoint (Node-RED runtime, test bed)', function () {
  this.timeout(20000);
  // A fresh user directory per test; every token the identity server issues is recorded.
  const { bed, admin } = useNodeRedBed({ userDirPrefix: 'm365-acct-', adminApp: true });
  const issued = useIssuedSecrets(bed);

  async function deploy(kind: 'daemon' | 'cert' = 'daemon'): Promise<ReturnType<TestBed['accountFor']>> {
    const account = bed.accountFor(kind);
    await helper.load(builtNodes(), [account.node('acc')], { acc: account.credentials });
    return account;
  }

  const test = (body: unknown) => postJson(`${admin.url}/m365-mail/accounts/acc/test`, body);

  it('passes every step for the deployed client-secret account and answers without token or secret', async function () {
    const account = await deploy();
    const before = issued.tokens.length;
    const response = await test({ mailbox: account.mailbox });
    assert.equal(response.status, 200, response.text);
    const steps = stepsOf(response.body);
    assert.deepEqual(steps.map((s) => s.step), ['config', 'token', 'explain', 'imap', 'pop3', 'folders']);
    assert.ok(steps.every((s) => s.ok), JSON.stringify(steps, null, 1));
    assert.match(step(steps, 'explain').detail ?? '', /audience https:\/\/outlook\.office365\.com, roles: .*IMAP\.AccessAsApp/);
    assert.match(step(steps, 'folders').detail ?? '', /INBOX/);
    assert.ok(issued.tokens.length > before, 'the test obtained a token from the identity server');
    assert.deepEqual(leaksIn(response.text, { secret: [APPS.daemon.secret], token: issued.tokens }), []);
  });

  it('reports a wrong client secret in the form as invalid-secret, telling to copy the secret Value', async function () {
    const account = await deploy();
    const response = await test({ mailbox: account.mailbox, settings: { ...account.properties, clientSecret: 'Wrong8Q~not-the-secret-value-at-all-1234' } });
    assert.equal(response.status, 200, response.text);
    const steps = stepsOf(response.body);
    const token = step(steps, 'token');
    assert.equal(token.ok, false);
    assert.equal(token.kind, 'invalid-secret');
    assert.match(token.fix ?? '', /secret \*Value\*/);
    assert.ok(!steps.some((s) => s.step === 'imap'), 'no mail login without a token');
    assert.ok(!response.text.includes('Wrong8Q~'), 'the typed secret is not echoed');
  });

  it('reports an expired client secret as expired-secret', async function () {
    const account = await deploy();
    const response = await test({ mailbox: account.mailbox, settings: { ...account.properties, clientSecret: APPS.daemon.expiredSecret } });
    const token = step(stepsOf(response.body), 'token');
    assert.equal(token.kind, 'expired-secret');
    assert.match(token.fix ?? '', /new client secret/);
    assert.ok(!response.text.includes(APPS.daemon.expiredSecret));
  });

  it('uses the deployed secret when the form sends the __PWRD__ placeholder', async function () {
    const account = await deploy();
    const response = await test({ mailbox: account.mailbox, settings: { ...account.properties, clientSecret: '__PWRD__' } });
    const steps = stepsOf(response.body);
    assert.ok(steps.length === 6 && steps.every((s) => s.ok), JSON.stringify(steps, null, 1));
  });

  it('uses the deployed private key when the form of a certificate account sends __PWRD__', async function () {
    const account = await deploy('cert');
    const response = await test({ mailbox: account.mailbox, settings: { ...account.properties, privateKey: '__PWRD__' } });
    const steps = stepsOf(response.body);
    assert.ok(steps.length === 6 && steps.every((s) => s.ok), JSON.stringify(steps, null, 1));
    assert.deepEqual(leaksIn(response.text, { key: [account.credentials.privateKey ?? ''] }), []);
  });

  it('accepts the tenant as GUID and as verified domain, and names an unknown tenant', async function () {
    const account = await deploy();
    for (const tenant of [CONTOSO.tenantId, 'contoso.com', 'contoso.onmicrosoft.com']) {
      const steps = stepsOf((await test({ mailbox: account.mailbox, settings: { ...account.properties, tenant, clientSecret: '__PWRD__' } })).body);
      assert.ok(steps.length === 6 && steps.every((s) => s.ok), `${tenant}: ${JSON.stringify(steps)}`);
    }
    const unknown = step(stepsOf((await test({ mailbox: account.mailbox, settings: { ...account.properties, tenant: 'nowhere.example', clientSecret: '__PWRD__' } })).body), 'token');
    assert.equal(unknown.kind, 'tenant-not-found');
    assert.match(unknown.fix ?? '', /Tenant ID/);
  });

  it('refuses common as tenant of an app-only account before any request, with a fix', async function () {
    const account = await deploy();
    const before = bed.identity.stats.tokenRequests;
    const steps = stepsOf((await test({ mailbox: account.mailbox, settings: { ...account.properties, tenant: 'common', clientSecret: '__PWRD__' } })).body);
    assert.equal(steps[0].step, 'config');
    assert.equal(steps[0].ok, false);
    assert.equal(steps[0].kind, 'config');
    assert.match(steps[0].fix ?? '', /tenant/i);
    assert.equal(bed.identity.stats.tokenRequests, before);
  });

  it('explains an app without the Exchange service principal as not-connected with New-ServicePrincipal', async function () {
    const account = await deploy();
    const settings = { ...account.properties, clientId: APPS.daemonNoServicePrincipal.clientId, clientSecret: APPS.daemonNoServicePrincipal.secret };
    const response = await test({ mailbox: account.mailbox, settings });
    const steps = stepsOf(response.body);
    assert.equal(step(steps, 'token').ok, true);
    const imap = step(steps, 'imap');
    assert.equal(imap.ok, false);
    assert.match(imap.fix ?? '', /New-ServicePrincipal/);
    assert.ok(!response.text.includes(APPS.daemonNoServicePrincipal.secret));
  });

  it('lists the folders of a mailbox for the editor\'s folder picker', async function () {
    const account = await deploy();
    const response = await fetch(`${admin.url}/m365-mail/accounts/acc/folders?mailbox=${encodeURIComponent(account.mailbox)}`);
    const body = await response.json() as { folders: Array<{ path: string; name: string }> };
    assert.equal(response.status, 200);
    assert.ok(body.folders.some((f) => f.path === 'INBOX'), JSON.stringify(body));
  });

  it('lists the folders from the editor\'s settings of an account that is not deployed yet, never echoing the secret', async function () {
    const account = await deploy();
    const secret = String(account.credentials.clientSecret);
    const response = await postJson(`${admin.url}/m365-mail/accounts/not-deployed/folders`, {
      mailbox: account.mailbox, settings: { ...account.properties, clientSecret: secret },
    });
    assert.equal(response.status, 200, response.text);
    const folders = (response.body as unknown as { folders: Array<{ path: string }> }).folders;
    assert.ok(folders.some((f) => f.path === 'Archive'), response.text);
    assert.ok(!response.text.includes(secret));
  });

  it('refuses a folder list without a deployed account or settings, and one with invalid settings, as config errors', async function () {
    const account = await deploy();
    const missing = await postJson(`${admin.url}/m365-mail/accounts/nope/folders`, { mailbox: account.mailbox });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.kind, 'config');
    const before = bed.identity.stats.tokenRequests;
    const invalid = await postJson(`${admin.url}/m365-mail/accounts/nope/folders`, { mailbox: account.mailbox, settings: { ...account.properties, tenant: 'not a tenant' } });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.body.kind, 'config');
    assert.equal(bed.identity.stats.tokenRequests, before, 'no token request for invalid settings');
  });

  it('reports an account that is not deployed and sent no form as a config error', async function () {
    await deploy();
    const response = await postJson(`${admin.url}/m365-mail/accounts/nope/test`, { mailbox: USERS.alice });
    assert.equal(response.status, 400);
    assert.equal(response.body.kind, 'config');
    assert.match(String(response.body.fix), /Deploy/);
  });

  it('shows the endpoints of the selected national cloud (usgov) on the deployed account', async function () {
    const flow = [{ id: 'gov', type: 'm365-account', cloud: 'usgov', tenant: 'contoso.us', clientId: APPS.daemon.clientId, authType: 'client-secret' }];
    await helper.load(builtNodes(), flow, { gov: { clientSecret: 'x' } });
    const node = helper.getNode('gov') as unknown as { problems: unknown[]; tokenProvider(): M365TokenProvider };
    assert.deepEqual(node.problems, []);
    const endpoints = node.tokenProvider().endpoints;
    assert.equal(endpoints.authorityHost, 'https://login.microsoftonline.us');
    assert.equal(endpoints.imap.host, 'outlook.office365.us');
    assert.equal(endpoints.pop3.host, 'outlook.office365.us');
    assert.equal(endpoints.appOnlyScope, 'https://outlook.office365.us/.default');
    const table = resolveEndpoints({ cloud: 'usgov', tenant: 'contoso.us' });
    assert.equal(JSON.stringify(endpoints), JSON.stringify(table), 'the node uses the cloud table of src/auth/clouds');
  });
});

describe('connection test explains a token of the wrong audience (test bed, stub provider)', function () {
  this.timeout(20000);
  const bed = useTestBed();

  it('names wrong-audience when the token is for Graph, and the mail login then fails', async function () {
    const config = { ...bed.accountFor('public').properties, authType: 'device-code' as const };
    const graphToken = bed.identity.mintAccessToken({ aud: 'https://graph.microsoft.com', scp: 'User.Read IMAP.AccessAsUser.All' });
    const provider = {
      authType: 'device-code',
      endpoints: resolveEndpoints(config),
      getAccessToken: async () => graphToken,
      getAccount: async () => ({ username: USERS.alice, tenantId: CONTOSO.tenantId, homeAccountId: 'x' }),
    } as unknown as M365TokenProvider;
    const steps = await runConnectionTest({ config, problems: [], provider, mailbox: '', ca: bed.ca.caCertPem, timeoutMs: 5000 });
    const explain = step(steps, 'explain');
    assert.equal(explain.ok, false);
    assert.equal(explain.kind, 'wrong-audience');
    assert.match(explain.fix ?? '', /outlook\.office\.com/);
    assert.equal(step(steps, 'imap').ok, false);
    assert.equal(step(steps, 'pop3').ok, false);
    assert.ok(!JSON.stringify(steps).includes(graphToken.split('.')[2]), 'the token is not in the steps');
  });
});
