/**
 * Exactly-once across a restart of a whole Node-RED process: the package is linked into a user
 * directory, the flow deployed through the admin API (so Node-RED encrypts the credentials), and
 * every emitted subject appended to a file by Node-RED's own file node, to be counted across the
 * two processes. The UIDL record on disk is all the second process has to go on.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { APPS } from '../../env/identity/directory';
import { nodeRedLauncherPath, nodeRedVersion } from '../../support/node-red-package';
import { startNodeRed, type NodeRedProcess } from '../../support/node-red-process';
import { useNodeRedProcessBed } from './node-red-bed';
import { MAILBOX, SecondClient, assertExactlyOnce, mail, subjects, waitFor } from './pop3-in-support';

describe(`m365-pop3-in across a restart of a real Node-RED ${nodeRedVersion()} process`, function () {
  this.timeout(60000);
  let nodeRed: NodeRedProcess | undefined;
  const { bed, userDir } = useNodeRedProcessBed({ userDirPrefix: 'm365-pop3-process-', stopProcess: () => nodeRed?.stop() });

  before(async function () {
    await new SecondClient(bed).empty();
  });

  const linesOf = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
  // Debug level, so the node's poll summaries show in the process log.
  const settings = { logging: { console: { level: 'debug', metrics: false, audit: false } } };

  it('emits every mail once with keep, also mail that arrived while Node-RED was down', async function () {
    const topicsFile = path.join(userDir.path, 'topics.txt');
    const account = bed.accountFor('daemon');
    const flow = [
      { id: 'tab', type: 'tab', label: 'pop3' },
      { ...account.node('acc'), credentials: { clientSecret: account.credentials.clientSecret } },
      { id: 'in', z: 'tab', type: 'm365-pop3-in', account: 'acc', mailbox: MAILBOX, mode: 'poll', interval: 300, disposition: 'keep', batchSize: 100, wires: [['topic']] },
      { id: 'topic', z: 'tab', type: 'change', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'topic', tot: 'msg' }], wires: [['append']] },
      { id: 'append', z: 'tab', type: 'file', filename: topicsFile, filenameType: 'str', appendNewline: true, createDir: true, overwriteFile: 'false', encoding: 'utf8', wires: [] },
    ];
    const firstRun = subjects('process', 120);
    const whileDown = subjects('process', 30, 121);
    await bed.dovecot.deliverMany(MAILBOX, firstRun.map((s) => mail(s)));

    nodeRed = await startNodeRed({ userDir: userDir.path, launcher: nodeRedLauncherPath(), flows: [], settings });
    const deployed = await fetch(`${nodeRed.url}/flows`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' }, body: JSON.stringify(flow),
    });
    assert.ok(deployed.ok, `deploy answered ${deployed.status}: ${await deployed.text()}`);
    // A backlog of 120 with batchSize 100: two sessions, the second right after the first.
    await nodeRed.waitForLog(/120 listed, 120 new, 100 handed over/, 20000);
    await nodeRed.waitForLog(/120 listed, 20 new, 20 handed over/, 20000);
    await waitFor(() => linesOf(topicsFile).length >= 120, 'the first process to write 120 subjects', 10000);
    assert.equal(await nodeRed.stop(), 0, 'Node-RED stopped cleanly');
    const firstLog = nodeRed.log();
    nodeRed = undefined;

    await bed.dovecot.deliverMany(MAILBOX, whileDown.map((s) => mail(s)));
    nodeRed = await startNodeRed({ userDir: userDir.path, launcher: nodeRedLauncherPath(), settings });
    await nodeRed.waitForLog(/150 listed, 30 new, 30 handed over/, 20000);
    await waitFor(() => linesOf(topicsFile).length >= 150, 'the second process to write 30 more subjects', 10000);

    assertExactlyOnce(linesOf(topicsFile), [...firstRun, ...whileDown]);
    assert.equal((await new SecondClient(bed).uidls()).length, 150, 'keep left every mail on the server');
    const logs = firstLog + nodeRed.log();
    // (The account's MSAL "No client info in response" warning on app-only tokens is not this node's.)
    assert.deepEqual(logs.split('\n').filter((line) => /\[error\]|\[warn\] \[m365-pop3-in/.test(line)), [], 'no error, and no warning of the node, in either log');
    assert.ok(!logs.includes(APPS.daemon.secret), 'the client secret is not logged');
    assert.ok(!/auth=Bearer|eyJ[\w-]{20,}\.eyJ/.test(logs), 'no token is logged, not even at debug level');
  });
});
