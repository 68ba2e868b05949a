/**
 * Test connection and the folder picker reach the servers as the readers do (one proxy decision,
 * src/net/proxy.ts): the account's proxy, else HTTPS_PROXY / NO_PROXY, for IMAP and POP3 alike.
 * The proxy's user and password come from the account's credentials. Checked with CONNECT proxies
 * that record each tunnel, through the Node-RED runtime's admin endpoints.
 */
import assert from 'node:assert/strict';
import { USERS } from '../../env/identity/directory';
import { builtNodes, helper } from '../../support/helper';
import { startCountingProxy, type CountingProxy } from '../auth/helpers';
import { getJson, postJson } from './account-support';
import { useNodeRedBed } from './node-red-bed';

const PROXY_USER = 'corp\\jane';
const PROXY_PASSWORD = 'p@ss:w%rd';
const PROXY_ENV = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'];

interface Step {
  step: string;
  ok: boolean;
  detail?: string;
}

describe('m365-account Test connection and folder picker use the readers\' proxy decision (Node-RED runtime, test bed)', function () {
  this.timeout(30000);
  const { bed, admin } = useNodeRedBed({ userDirPrefix: 'm365-acct-proxy-', adminApp: true });
  let open: CountingProxy;
  let guarded: CountingProxy;
  let savedEnv: Record<string, string | undefined>;

  before(async function () {
    open = await startCountingProxy();
    guarded = await startCountingProxy({ user: PROXY_USER, password: PROXY_PASSWORD });
  });
  after(async function () {
    await open?.close();
    await guarded?.close();
  });
  beforeEach(function () {
    savedEnv = Object.fromEntries(PROXY_ENV.map((name) => [name, process.env[name]]));
    for (const name of PROXY_ENV) delete process.env[name];
    open.tunnels.length = 0;
    guarded.tunnels.length = 0;
  });
  afterEach(function () {
    for (const name of PROXY_ENV) {
      if (savedEnv[name] === undefined) delete process.env[name];
      else process.env[name] = savedEnv[name];
    }
  });

  const api = (rest: string): string => `${admin.url}/m365-mail/accounts/acc${rest}`;
  const imapTarget = (): string => `${bed.dovecot.host}:${bed.dovecot.imapPort}`;
  const pop3Target = (): string => `${bed.dovecot.host}:${bed.dovecot.pop3Port}`;

  async function testConnection(body: unknown): Promise<Step[]> {
    const response = await postJson(api('/test'), body);
    assert.equal(response.status, 200, response.text);
    const steps = response.body.steps as Step[];
    assert.deepEqual(steps.filter((s) => !s.ok), [], JSON.stringify(steps, null, 1));
    return steps;
  }

  it('takes HTTPS_PROXY from the environment for the IMAP and the POP3 step and for the folder list', async function () {
    process.env.HTTPS_PROXY = open.url;
    const account = bed.accountFor('daemon');
    await helper.load(builtNodes(), [account.node('acc')], { acc: account.credentials });

    await testConnection({ mailbox: USERS.alice });
    assert.ok(open.tunnels.includes(imapTarget()), `IMAP step tunnelled: ${open.tunnels.join(', ')}`);
    assert.ok(open.tunnels.includes(pop3Target()), `POP3 step tunnelled: ${open.tunnels.join(', ')}`);

    open.tunnels.length = 0;
    const listed = await getJson(api(`/folders?mailbox=${encodeURIComponent(USERS.alice)}`));
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(open.tunnels.filter((t) => t === imapTarget()).length, 1, 'the folder list went through the proxy');
  });

  it('leaves a host in NO_PROXY direct, as the readers do', async function () {
    process.env.HTTPS_PROXY = open.url;
    process.env.NO_PROXY = bed.dovecot.host;
    const account = bed.accountFor('daemon');
    await helper.load(builtNodes(), [account.node('acc')], { acc: account.credentials });
    await testConnection({ mailbox: USERS.alice });
    assert.ok(!open.tunnels.includes(imapTarget()) && !open.tunnels.includes(pop3Target()), `mail went direct: ${open.tunnels.join(', ')}`);
  });

  it('uses the account\'s proxy with the user and password from the account\'s credentials, deployed and from the form', async function () {
    process.env.HTTPS_PROXY = open.url; // the account's proxy takes precedence
    const account = bed.accountFor('daemon');
    const node = { ...account.node('acc'), proxy: guarded.url };
    await helper.load(builtNodes(), [node], { acc: { ...account.credentials, proxyUsername: PROXY_USER, proxyPassword: PROXY_PASSWORD } });

    await testConnection({ mailbox: USERS.alice });
    for (const target of [imapTarget(), pop3Target()]) assert.ok(guarded.tunnels.includes(target), `${target} via the account's proxy: ${guarded.tunnels.join(', ')}`);
    assert.deepEqual(open.tunnels, []);

    // The editor's form: the password field holds the placeholder, so the deployed one is used.
    guarded.tunnels.length = 0;
    await testConnection({ mailbox: USERS.alice, settings: { ...account.properties, proxy: guarded.url, proxyUsername: PROXY_USER, proxyPassword: '__PWRD__', clientSecret: '__PWRD__' } });
    assert.ok(guarded.tunnels.includes(imapTarget()));

    const wrong = await postJson(api('/test'), { mailbox: USERS.alice, settings: { ...account.properties, proxy: guarded.url, proxyUsername: PROXY_USER, proxyPassword: 'wrong', clientSecret: '__PWRD__' } });
    const token = (wrong.body.steps as Step[]).find((s) => s.step === 'token');
    assert.equal(token?.ok, false, 'a wrong proxy password is refused by the proxy');
    assert.ok(!wrong.text.includes(PROXY_PASSWORD) && !wrong.text.includes('p%40ss'), 'the proxy password is never in an answer');
  });
});
