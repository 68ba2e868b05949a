/**
 * Pending actions survive a kill of a whole Node-RED process: the IMAP server is unreachable (a
 * proxy refuses connections), so the accepted actions wait in their durable store; Node-RED is
 * killed with SIGKILL; the server comes back; the next start applies them, once (a copy that ran
 * twice would leave two copies).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { USERS } from '../../env/identity/directory';
import { nodeRedLauncherPath, nodeRedVersion } from '../../support/node-red-package';
import { startNodeRed, type NodeRedProcess } from '../../support/node-red-process';
import { TcpProxy } from '../../support/tcp-proxy';
import { mail, waitFor } from './imap-in-support';
import { useNodeRedProcessBed } from './node-red-bed';

describe(`m365-imap-action across a kill of a real Node-RED ${nodeRedVersion()} process`, function () {
  this.timeout(60000);
  let nodeRed: NodeRedProcess | undefined;
  let proxy: TcpProxy | undefined;
  const { bed, userDir } = useNodeRedProcessBed({ userDirPrefix: 'm365-action-kill-', stopProcess: async () => { await nodeRed?.stop('SIGKILL'); await proxy?.close(); } });

  const storedFile = (nodeId: string): string => path.join(userDir.path, 'm365-mail', `${createHash('sha256').update(`imap-action:${nodeId}`).digest('hex')}.json`);

  it('applies the actions pending at the kill after the restart, exactly once', async function () {
    const folder = 'KillPending';
    const copies = 'KillCopies';
    await bed.dovecot.createFolder(USERS.alice, folder);
    await bed.dovecot.createFolder(USERS.alice, copies);
    await bed.dovecot.deliverMany(USERS.alice, ['k1', 'k2', 'k3'].map((s) => mail(s)), { folder });
    const uids = (await bed.dovecot.listMessages(USERS.alice, folder)).map((m) => m.uid);
    proxy = await TcpProxy.start({ targetHost: bed.dovecot.host, targetPort: bed.dovecot.imapPort });
    proxy.refuse();

    const account = bed.accountFor('daemon');
    const flow = [
      { id: 'tab', type: 'tab', label: 'kill' },
      { ...account.node('acc'), imapHost: '127.0.0.1', imapPort: String(proxy.port), credentials: { clientSecret: account.credentials.clientSecret } },
      { id: 'go', z: 'tab', type: 'inject', props: [{ p: 'uid', v: JSON.stringify(uids), vt: 'json' }, { p: 'folder', v: folder, vt: 'str' }], repeat: '', once: false, wires: [['copier', 'marker']] },
      { id: 'copier', z: 'tab', type: 'm365-imap-action', account: 'acc', mailbox: USERS.alice, action: 'copy', target: copies, wires: [[]] },
      { id: 'marker', z: 'tab', type: 'm365-imap-action', account: 'acc', mailbox: USERS.alice, action: 'read', wires: [[]] },
    ];
    nodeRed = await startNodeRed({ userDir: userDir.path, launcher: nodeRedLauncherPath(), flows: [] });
    await nodeRed.waitForLog(/Started flows/);
    const logBefore = nodeRed.log().length;
    const deployed = await fetch(`${nodeRed.url}/flows`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' }, body: JSON.stringify(flow),
    });
    assert.ok(deployed.ok, `deploy answered ${deployed.status}: ${await deployed.text()}`);
    await nodeRed.waitForLog(/Started flows/, 15000, logBefore);
    const injected = await fetch(`${nodeRed.url}/inject/go`, { method: 'POST' });
    assert.equal(injected.status, 200);

    // Accepted and stored, but the server cannot be reached: the actions wait.
    await waitFor(() => existsSync(storedFile('copier')) && existsSync(storedFile('marker')), 'both actions to be stored', 15000);
    await nodeRed.waitForLog(/\[warn\] \[m365-imap-action:(copier|marker)\]/, 15000);
    assert.equal(await nodeRed.stop('SIGKILL'), null);
    nodeRed = undefined;
    assert.equal((await bed.dovecot.listMessages(USERS.alice, copies)).length, 0, 'nothing was applied before the kill');

    proxy.acceptAgain();
    nodeRed = await startNodeRed({ userDir: userDir.path, launcher: nodeRedLauncherPath() });
    await nodeRed.waitForLog(/Applying 1 stored action/, 15000);
    await waitFor(() => !existsSync(storedFile('copier')) && !existsSync(storedFile('marker')), 'the stored actions to be done', 15000);
    const copied = await bed.dovecot.listMessages(USERS.alice, copies);
    assert.equal(copied.length, 3, 'each mail copied once');
    const source = await bed.dovecot.listMessages(USERS.alice, folder);
    assert.ok(source.every((m) => m.flags.includes('\\Seen')), 'every mail marked read');
    assert.deepEqual(nodeRed.log().split('\n').filter((line) => /\[error\]/.test(line)), [], 'no errors in the Node-RED log');
  });
});
