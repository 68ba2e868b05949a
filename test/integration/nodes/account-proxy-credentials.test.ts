/**
 * Proxy user and password live in the account's credentials. A flow from before that keeps them
 * in the `proxy` URL still works; at load they move into the credentials, the editor (GET /flows,
 * hence exports) never sees them again, and the next deploy writes a flow file without them.
 * A real Node-RED process, a CONNECT proxy that insists on the user and password.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { USERS } from '../../env/identity/directory';
import { nodeRedLauncherPath, nodeRedVersion } from '../../support/node-red-package';
import { startNodeRed, type NodeRedProcess } from '../../support/node-red-process';
import { startCountingProxy, type CountingProxy } from '../auth/helpers';
import { getJson, postJson } from './account-support';
import { useNodeRedProcessBed } from './node-red-bed';

const PROXY_USER = 'jane';
const PROXY_PASSWORD = 'p@ss:w%rd';

describe(`m365-account proxy credentials in an old flow (real Node-RED ${nodeRedVersion()})`, function () {
  this.timeout(60000);
  let nodeRed: NodeRedProcess | undefined;
  let proxy: CountingProxy;
  const { bed, userDir } = useNodeRedProcessBed({ userDirPrefix: 'm365-proxy-cred-', stopProcess: () => nodeRed?.stop() });

  before(async function () {
    proxy = await startCountingProxy({ user: PROXY_USER, password: PROXY_PASSWORD });
  });
  after(async function () {
    await proxy?.close();
  });

  const flowFile = (): string => readFileSync(path.join(userDir.path, 'flows.json'), 'utf8');

  async function deploy(flows: unknown[]): Promise<void> {
    const logged = nodeRed!.log().length;
    const response = await fetch(`${nodeRed!.url}/flows`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' }, body: JSON.stringify(flows),
    });
    assert.ok(response.ok, `deploy answered ${response.status}`);
    await nodeRed!.waitForLog(/Started flows/, 30000, logged);
  }

  it('moves them into the credentials at load; the flow keeps working and the next deploy writes a clean flow file', async function () {
    const account = bed.accountFor('daemon');
    const userInfo = `${encodeURIComponent(PROXY_USER)}:${encodeURIComponent(PROXY_PASSWORD)}@`;
    const oldProxy = proxy.url.replace('//', `//${userInfo}`);
    nodeRed = await startNodeRed({ userDir: userDir.path, launcher: nodeRedLauncherPath(), flows: [] });
    // An old flow, as the editor imported and deployed it: the proxy URL carries user and password.
    await deploy([{ ...account.node('acc'), proxy: oldProxy, credentials: account.credentials }]);
    assert.ok(flowFile().includes(userInfo), 'the old flow as written by that deploy');

    // A restart loads the old flow file.
    await nodeRed.stop();
    nodeRed = await startNodeRed({ userDir: userDir.path, launcher: nodeRedLauncherPath() });
    await nodeRed.waitForLog(/moved from the proxy URL into the account's credentials/);

    const flows = (await getJson(`${nodeRed.url}/flows`)).text;
    assert.ok(!flows.includes(userInfo) && !flows.includes(encodeURIComponent(PROXY_PASSWORD)), 'GET /flows (what the editor shows and exports) has no proxy user or password');
    assert.ok(flows.includes(proxy.url), 'the proxy URL itself stays');
    const credentials = (await getJson(`${nodeRed.url}/credentials/m365-account/acc`)).body;
    assert.equal(credentials.proxyUsername, PROXY_USER);
    assert.equal(credentials.has_proxyPassword, true);
    assert.equal(credentials.proxyPassword, undefined, 'the editor never receives the password');

    // The moved credentials are used: the proxy refuses every tunnel without them.
    const test = await postJson(`${nodeRed.url}/m365-mail/accounts/acc/test`, { mailbox: USERS.alice });
    const steps = test.body.steps as Array<{ step: string; ok: boolean }>;
    assert.deepEqual(steps.filter((s) => !s.ok), [], test.text);
    assert.ok(proxy.tunnels.includes(`${bed.dovecot.host}:${bed.dovecot.imapPort}`));

    // The next deploy (any change, or none) writes the flow the editor holds: no user info left.
    await deploy(JSON.parse(flows) as unknown[]);
    assert.ok(!flowFile().includes(userInfo), 'flows.json no longer carries the proxy user and password');
    const credentialFile = readFileSync(path.join(userDir.path, 'flows_cred.json'), 'utf8');
    assert.ok(!credentialFile.includes(PROXY_PASSWORD), 'the password is stored encrypted');

    // After another restart it still works from the credentials alone.
    await nodeRed.stop();
    nodeRed = await startNodeRed({ userDir: userDir.path, launcher: nodeRedLauncherPath() });
    await nodeRed.waitForLog(/Started flows/);
    const again = await postJson(`${nodeRed.url}/m365-mail/accounts/acc/test`, { mailbox: USERS.alice });
    assert.deepEqual((again.body.steps as Array<{ ok: boolean }>).filter((s) => !s.ok), [], again.text);
    assert.doesNotMatch(nodeRed.log(), /moved from the proxy URL/);
  });
});
