/**
 * Editor users get what their Node-RED permission allows, nothing more: a real Node-RED process
 * with adminAuth, one user with read permission and one with every permission. Listing folders
 * uses the account's credentials, so it needs write permission; a pending sign-in's device code or
 * browser URL (with its state) is shown only to a user who may change the account.
 */
import assert from 'node:assert/strict';
import { USERS } from '../../env/identity/directory';
import { nodeRedLauncherPath, nodeRedVersion } from '../../support/node-red-package';
import { startNodeRed, type NodeRedProcess } from '../../support/node-red-process';
import { useNodeRedProcessBed } from './node-red-bed';

const PASSWORD = 'editor-password';
// Users of the editor; `authenticate` accepts PASSWORD for each (no bcrypt needed in a test).
const ADMIN_AUTH = `
const m365Users = { reader: 'read', admin: '*' };
const m365User = (username) => (m365Users[username] ? { username, permissions: m365Users[username] } : null);
module.exports.adminAuth = {
  type: 'credentials',
  users: async (username) => m365User(username),
  authenticate: async (username, password) => (password === ${JSON.stringify(PASSWORD)} ? m365User(username) : null),
};
`;

interface Answer {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

describe(`m365-account admin endpoints and editor permissions (real Node-RED ${nodeRedVersion()} with adminAuth)`, function () {
  this.timeout(60000);
  let nodeRed: NodeRedProcess | undefined;
  const { bed, userDir } = useNodeRedProcessBed({ userDirPrefix: 'm365-permissions-', stopProcess: () => nodeRed?.stop() });
  const tokens: Record<string, string> = {};

  async function signInAs(username: string, scope: string): Promise<string> {
    const response = await fetch(`${nodeRed!.url}/auth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: 'node-red-admin', grant_type: 'password', scope, username, password: PASSWORD }).toString(),
    });
    assert.equal(response.status, 200, `Node-RED sign-in of ${username}`);
    return String(((await response.json()) as { access_token: string }).access_token);
  }

  async function call(user: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Answer> {
    const response = await fetch(`${nodeRed!.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${tokens[user]}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON (a refusal has an empty body)
    }
    return { status: response.status, body: parsed, text };
  }

  const refused = (answer: Answer): boolean => answer.status === 401 || answer.status === 403;

  before(async function () {
    const daemon = bed.accountFor('daemon');
    const delegated = bed.accountFor('public');
    nodeRed = await startNodeRed({ userDir: userDir.path, launcher: nodeRedLauncherPath(), flows: [], settingsCode: ADMIN_AUTH });
    tokens.reader = await signInAs('reader', 'read');
    tokens.admin = await signInAs('admin', '*');
    const flow = [
      { ...daemon.node('accApp'), credentials: daemon.credentials },
      delegated.node('accDevice'),
      { ...delegated.node('accBrowser'), authType: 'auth-code' },
    ];
    const logged = nodeRed.log().length;
    const deployed = await call('admin', 'POST', '/flows', flow);
    assert.ok(deployed.status === 200 || deployed.status === 204, `deploy answered ${deployed.status}: ${deployed.text}`);
    await nodeRed.waitForLog(/Started flows/, 30000, logged);
  });

  it('lists folders only for a user with write permission (GET and POST)', async function () {
    const query = `?mailbox=${encodeURIComponent(USERS.alice)}`;
    const asReader = await call('reader', 'GET', `/m365-mail/accounts/accApp/folders${query}`);
    assert.ok(refused(asReader), `a read-only user is refused: ${asReader.status} ${asReader.text}`);
    assert.ok(!asReader.text.includes('INBOX'));
    const postAsReader = await call('reader', 'POST', '/m365-mail/accounts/accApp/folders', { mailbox: USERS.alice });
    assert.ok(refused(postAsReader), `POST too: ${postAsReader.status}`);

    const asAdmin = await call('admin', 'GET', `/m365-mail/accounts/accApp/folders${query}`);
    assert.equal(asAdmin.status, 200, asAdmin.text);
    assert.ok((asAdmin.body.folders as Array<{ path: string }>).some((f) => f.path === 'INBOX'), asAdmin.text);
  });

  it('shows a pending device code only to a user with write permission', async function () {
    const started = await call('admin', 'POST', '/m365-mail/accounts/accDevice/sign-in', {});
    assert.equal(started.status, 200, started.text);
    const userCode = String(started.body.userCode);
    assert.ok(userCode.length > 0);

    const asReader = await call('reader', 'GET', '/m365-mail/accounts/accDevice/sign-in');
    assert.equal(asReader.status, 200, asReader.text);
    assert.deepEqual(asReader.body, { state: 'pending' }, 'a read-only user sees only that a sign-in is pending');
    assert.ok(!asReader.text.includes(userCode));

    const asAdmin = await call('admin', 'GET', '/m365-mail/accounts/accDevice/sign-in');
    assert.equal(asAdmin.body.state, 'pending');
    assert.equal(asAdmin.body.userCode, userCode);
    assert.match(String(asAdmin.body.verificationUri), /devicelogin$/);

    const startAsReader = await call('reader', 'POST', '/m365-mail/accounts/accDevice/sign-in', {});
    assert.ok(refused(startAsReader), 'a read-only user cannot start a sign-in either');
  });

  it('shows a pending browser sign-in URL (with its state) only to a user with write permission', async function () {
    const started = await call('admin', 'POST', '/m365-mail/accounts/accBrowser/sign-in', { origin: `${nodeRed!.url}/` });
    assert.equal(started.status, 200, started.text);
    const state = new URL(String(started.body.url)).searchParams.get('state');
    assert.ok(state, 'the sign-in URL carries a state');

    const asReader = await call('reader', 'GET', '/m365-mail/accounts/accBrowser/sign-in');
    assert.deepEqual(asReader.body, { state: 'pending' });
    assert.ok(!asReader.text.includes(state));

    const asAdmin = await call('admin', 'GET', '/m365-mail/accounts/accBrowser/sign-in');
    assert.equal(asAdmin.body.url, started.body.url);
  });
});
