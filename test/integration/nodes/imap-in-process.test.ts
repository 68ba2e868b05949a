/**
 * Exactly-once across a restart of a whole Node-RED process: the package is installed into a user
 * directory (a symlink to this repository, as `npm link` would), the flow is deployed through the
 * admin API like the editor does (so Node-RED encrypts the credentials), and every emitted
 * subject is appended to a file by Node-RED's own file node, to be counted across processes.
 */
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { APPS, USERS } from '../../env/identity/directory';
import { PACKAGE_NAME as PACKAGE } from '../../support/linked-package';
import { nodeRedLauncherPath, nodeRedVersion } from '../../support/node-red-package';
import { startNodeRed, type NodeRedProcess } from '../../support/node-red-process';
import { assertExactlyOnce, mail, waitFor } from './imap-in-support';
import { useNodeRedProcessBed } from './node-red-bed';
import { NODE_TYPES } from '../../support/node-types';

describe(`m365-imap-in across a restart of a real Node-RED ${nodeRedVersion()} process`, function () {
  this.timeout(60000);
  let nodeRed: NodeRedProcess | undefined;
  // The package installed the way Node-RED finds packages: <userDir>/node_modules/<name> + package.json.
  const { bed, userDir } = useNodeRedProcessBed({ userDirPrefix: 'm365-nr-process-', stopProcess: () => nodeRed?.stop() });

  const linesOf = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

  it('emits every mail exactly once, also mail that arrived while Node-RED was down', async function () {
    const folder = 'ProcessRestart';
    await bed.dovecot.createFolder(USERS.alice, folder);
    const topicsFile = path.join(userDir.path, 'topics.txt');
    const account = bed.accountFor('daemon');
    const flow = [
      { id: 'tab', type: 'tab', label: 'imap' },
      { ...account.node('acc'), credentials: { clientSecret: account.credentials.clientSecret } },
      // criteria all on a fresh folder: nothing depends on when the node took its first look.
      { id: 'in', z: 'tab', type: 'm365-imap-in', account: 'acc', mailbox: USERS.alice, folder, mode: 'idle', criteria: 'all', wires: [['topic']] },
      { id: 'topic', z: 'tab', type: 'change', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'topic', tot: 'msg' }], wires: [['append']] },
      { id: 'append', z: 'tab', type: 'file', filename: topicsFile, filenameType: 'str', appendNewline: true, createDir: true, overwriteFile: 'false', encoding: 'utf8', wires: [] },
    ];

    nodeRed = await startNodeRed({ userDir: userDir.path, launcher: nodeRedLauncherPath(), flows: [] });
    const nodes = await (await fetch(`${nodeRed.url}/nodes`, { headers: { Accept: 'application/json' } })).json() as Array<{ module: string; types: string[]; err?: string }>;
    const ours = nodes.filter((set) => set.module === PACKAGE);
    assert.deepEqual(ours.flatMap((set) => set.types).sort(), [...NODE_TYPES].sort(), 'Node-RED loaded the package from the user directory');
    assert.deepEqual(ours.filter((set) => set.err).map((set) => set.err), []);

    const deployed = await fetch(`${nodeRed.url}/flows`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' }, body: JSON.stringify(flow),
    });
    assert.ok(deployed.ok, `deploy answered ${deployed.status}: ${await deployed.text()}`);
    const credentialsFile = readFileSync(path.join(userDir.path, 'flows_cred.json'), 'utf8');
    assert.ok(!credentialsFile.includes(APPS.daemon.secret), 'the client secret is stored encrypted');

    await bed.dovecot.deliverMany(USERS.alice, ['first run 1', 'first run 2'].map((s) => mail(s)), { folder });
    await waitFor(() => linesOf(topicsFile).length >= 2, 'the first process to emit two mails', 15000);
    assert.equal(await nodeRed.stop(), 0, 'Node-RED stopped cleanly');
    nodeRed = undefined;

    const whileDown = ['while down 1', 'while down 2', 'while down 3'];
    await bed.dovecot.deliverMany(USERS.alice, whileDown.map((s) => mail(s)), { folder });
    nodeRed = await startNodeRed({ userDir: userDir.path, launcher: nodeRedLauncherPath() });
    await waitFor(() => linesOf(topicsFile).length >= 5, 'the second process to catch up', 15000);
    await bed.dovecot.deliver(USERS.alice, mail('second run'), { folder });
    await waitFor(() => linesOf(topicsFile).includes('second run'), 'mail pushed to the second process', 15000);

    assertExactlyOnce(linesOf(topicsFile), ['first run 1', 'first run 2', ...whileDown, 'second run']);
    const problems = nodeRed.log().split('\n').filter((line) => /\[error\]/.test(line));
    assert.deepEqual(problems, [], 'no errors in the Node-RED log');
  });
});
