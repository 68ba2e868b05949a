/**
 * The delegated sign-in of an m365-account survives a full restart of a real Node-RED process:
 * device code sign-in through its admin API, SIGINT, start again with the same user directory and
 * credential secret, and the account is still signed in and gets tokens by refresh token, without
 * a new sign-in. The process runs at trace log level; its whole log is searched for secrets.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { USERS } from '../../env/identity/directory';
import { PACKAGE_NAME as PACKAGE } from '../../support/linked-package';
import { nodeRedLauncherPath, nodeRedVersion } from '../../support/node-red-package';
import { startNodeRed, type NodeRedProcess } from '../../support/node-red-process';
import { approveOnDeviceLoginPage, getJson, leaksIn, postJson, useIssuedSecrets, waitFor } from './account-support';
import { useNodeRedProcessBed } from './node-red-bed';

const CREDENTIAL_SECRET = 'restart-test-credential-secret';

interface Step {
  step: string;
  ok: boolean;
  detail?: string;
}

describe(`delegated account across a restart of a real Node-RED ${nodeRedVersion()}`, function () {
  this.timeout(60000);
  let nodeRed: NodeRedProcess | undefined;
  // A user directory with this repository linked in as an installed package; every secret the
  // identity server issues is recorded.
  const { bed, userDir } = useNodeRedProcessBed({ userDirPrefix: 'm365-restart-', stopProcess: () => nodeRed?.stop('SIGKILL') });
  const issued = useIssuedSecrets(bed);
  const logs: string[] = [];

  async function start(): Promise<NodeRedProcess> {
    const account = bed.accountFor('public');
    const started = await startNodeRed({
      userDir: userDir.path,
      launcher: nodeRedLauncherPath(),
      // The flow file is written only for the first start; the second start uses what Node-RED kept.
      flows: logs.length === 0 ? [account.node('acc')] : undefined,
      credentialSecret: CREDENTIAL_SECRET,
      settings: { logging: { console: { level: 'trace', metrics: false, audit: false } } },
    });
    await started.waitForLog(/Started flows/);
    return started;
  }

  async function stop(): Promise<void> {
    if (!nodeRed) return;
    const code = await nodeRed.stop('SIGINT');
    logs.push(nodeRed.log());
    nodeRed = undefined;
    assert.equal(code, 0, 'Node-RED exits cleanly on SIGINT');
  }

  async function testConnection(): Promise<Step[]> {
    const response = await postJson(`${nodeRed?.url}/m365-mail/accounts/acc/test`, { mailbox: '' });
    assert.equal(response.status, 200, response.text);
    return response.body.steps as Step[];
  }

  it('keeps the signed-in user and renews by refresh token after SIGINT and a new start', async function () {
    // Shorter than MSAL's 5-minute refresh window, so a restarted process must use the refresh token.
    bed.identity.tokenLifetimeSec = 120;
    nodeRed = await start();
    let api = `${nodeRed.url}/m365-mail/accounts/acc`;
    const loaded = await (await fetch(`${nodeRed.url}/nodes`, { headers: { Accept: 'application/json' } })).json() as Array<{ module: string; types: string[] }>;
    assert.ok(loaded.some((set) => set.module === PACKAGE && set.types.includes('m365-account')), 'the linked package is loaded');
    assert.equal((await getJson(`${api}/sign-in`)).body.state, 'signed-out');

    const signIn = await postJson(`${api}/sign-in`, {});
    assert.equal(signIn.body.state, 'pending', signIn.text);
    assert.match(await approveOnDeviceLoginPage(String(signIn.body.verificationUri), String(signIn.body.userCode), USERS.alice), /Signed in/);
    await waitFor(async () => (await getJson(`${api}/sign-in`)).body.state === 'signed-in', 'the sign-in to finish', 15000, 100);
    const first = await testConnection();
    assert.ok(first.length === 6 && first.every((s) => s.ok), JSON.stringify(first, null, 1));
    const tokenFile = path.join(userDir.path, 'm365-mail', 'account-acc.tokens');
    const stored = readFileSync(tokenFile, 'utf8');
    assert.deepEqual(leaksIn(stored, { token: issued.tokens, refresh: issued.refreshTokens }), [], 'the token file is encrypted');

    await stop();
    bed.identity.stats.reset();
    nodeRed = await start();
    api = `${nodeRed.url}/m365-mail/accounts/acc`;
    assert.deepEqual((await getJson(`${api}/sign-in`)).body, { state: 'signed-in', username: USERS.alice });
    const second = await testConnection();
    assert.ok(second.length === 6 && second.every((s) => s.ok), JSON.stringify(second, null, 1));
    assert.match(second.find((s) => s.step === 'imap')?.detail ?? '', /alice@contoso\.com/);
    assert.equal(bed.identity.stats.deviceCodeRequests, 0, 'no new sign-in');
    assert.equal(bed.identity.stats.byGrant.device_code, undefined);
    assert.ok((bed.identity.stats.byGrant.refresh_token ?? 0) >= 1, `refresh token used: ${JSON.stringify(bed.identity.stats.byGrant)}`);
    await stop();

    // Neither the flow files nor any log line of either run holds a token or the refresh token.
    const secrets = { 'access/ID token': issued.tokens, 'refresh token': issued.refreshTokens };
    assert.ok(issued.tokens.length >= 2 && issued.refreshTokens.length >= 2, 'tokens were issued in both runs');
    for (const file of readdirSync(userDir.path).filter((f) => f.startsWith('flows'))) {
      assert.deepEqual(leaksIn(readFileSync(path.join(userDir.path, file), 'utf8'), secrets), [], file);
    }
    const log = logs.join('\n');
    assert.match(log, /\[trace\]/, 'the process logged at trace level');
    assert.deepEqual(leaksIn(log, secrets), []);
  });
});
