/**
 * A bad environment or configuration never stops Node-RED: a real Node-RED process starts with
 * an unsupported HTTPS_PROXY (socks5://) in its environment, or with a state folder it cannot
 * create, and a delegated (device-code) reader. The process stays up, the reader shows the error
 * with its fix, and another flow keeps answering.
 */
import assert from 'node:assert/strict';
import { writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { USERS } from '../../env/identity/directory';
import { nodeRedLauncherPath, nodeRedVersion } from '../../support/node-red-package';
import { startNodeRed, type NodeRedProcess } from '../../support/node-red-process';
import { approveOnDeviceLoginPage, getJson, postJson, waitFor } from './account-support';
import { useNodeRedProcessBed } from './node-red-bed';

interface NodeStatus {
  fill?: string;
  shape?: string;
  text?: string;
}

describe(`a bad environment never stops a real Node-RED ${nodeRedVersion()} process`, function () {
  this.timeout(60000);
  let nodeRed: NodeRedProcess | undefined;
  const { bed, userDir } = useNodeRedProcessBed({ userDirPrefix: 'm365-start-up-', stopProcess: () => nodeRed?.stop() });

  afterEach(async function () {
    await nodeRed?.stop();
    nodeRed = undefined;
    rmSync(path.join(userDir.path, 'm365-mail'), { recursive: true, force: true });
    rmSync(path.join(userDir.path, 'flows.json'), { force: true });
  });

  function flow(): unknown[] {
    const delegated = bed.accountFor('public');
    return [
      { id: 'tab', type: 'tab', label: 'start-up' },
      delegated.node('acc'),
      // Every status of the reader, recorded (created before the reader, which may set one at once) by Node-RED's own status node for the test to read.
      { id: 'statuses', z: 'tab', type: 'status', scope: ['in'], wires: [['record']] },
      { id: 'record', z: 'tab', type: 'function', func: 'global.set("m365Status", msg.status); return null;', outputs: 1, wires: [[]] },
      { id: 'in', z: 'tab', type: 'm365-imap-in', account: 'acc', mailbox: USERS.alice, folder: 'INBOX', mode: 'idle', criteria: 'new', wires: [[]] },
      // Another flow that must keep working: an HTTP endpoint.
      { id: 'alive', z: 'tab', type: 'http in', url: '/alive', method: 'get', wires: [['answer']] },
      { id: 'answer', z: 'tab', type: 'http response', statusCode: '200', wires: [] },
      { id: 'show', z: 'tab', type: 'http in', url: '/reader-status', method: 'get', wires: [['showStatus']] },
      { id: 'showStatus', z: 'tab', type: 'change', rules: [{ t: 'set', p: 'payload', pt: 'msg', to: 'm365Status', tot: 'global' }], wires: [['answer']] },
    ];
  }

  /** Waits for the reader's status to turn red; a timeout shows Node-RED's log. */
  async function errorStatus(): Promise<NodeStatus> {
    return waitFor(async () => {
      const current = await readerStatus();
      return current?.fill === 'red' ? current : undefined;
    }, 'the reader to show an error', 20000).catch((error: Error) => {
      throw new Error(`${error.message}. Node-RED log:\n${nodeRed!.log()}`);
    });
  }

  async function readerStatus(): Promise<NodeStatus | undefined> {
    const response = await fetch(`${nodeRed!.url}/reader-status`);
    const text = await response.text();
    return text ? (JSON.parse(text) as NodeStatus) : undefined;
  }

  async function assertStaysUp(): Promise<void> {
    // Node-RED is still there after the reader's start went wrong, and the other flow answers.
    const alive = await fetch(`${nodeRed!.url}/alive`);
    assert.equal(alive.status, 200);
    assert.equal(nodeRed!.child.exitCode, null, `Node-RED exited. Log:\n${nodeRed!.log()}`);
    assert.doesNotMatch(nodeRed!.log(), /Unhandled|UnhandledPromiseRejection/i);
  }

  it('with an unsupported HTTPS_PROXY (socks5://) a signed-in reader reports it with the fix', async function () {
    // First a normal start, to sign the account in through the admin API as the editor does.
    nodeRed = await startNodeRed({ userDir: userDir.path, launcher: nodeRedLauncherPath(), flows: flow() });
    await nodeRed.waitForLog(/Started flows/);
    const started = await postJson(`${nodeRed.url}/m365-mail/accounts/acc/sign-in`, {});
    assert.equal(started.status, 200, started.text);
    await approveOnDeviceLoginPage(String(started.body.verificationUri), String(started.body.userCode), USERS.alice);
    await waitFor(async () => (await getJson(`${nodeRed!.url}/m365-mail/accounts/acc/sign-in`)).body.state === 'signed-in', 'the sign-in to finish');
    assert.equal(await nodeRed.stop(), 0);

    nodeRed = await startNodeRed({
      userDir: userDir.path, launcher: nodeRedLauncherPath(),
      env: { HTTPS_PROXY: 'socks5://127.0.0.1:1080', https_proxy: 'socks5://127.0.0.1:1080', NO_PROXY: '', no_proxy: '' },
    });
    await nodeRed.waitForLog(/Started flows/);
    const status = await errorStatus();
    assert.equal(status.shape, 'ring');
    await nodeRed.waitForLog(/\[m365-imap-in:in\] HTTPS_PROXY in Node-RED's environment uses the proxy scheme "socks5:", which is not supported/);
    await nodeRed.waitForLog(/HTTP proxy that supports CONNECT: set HTTPS_PROXY/);
    await assertStaysUp();
  });

  it('with a state folder that cannot be created the reader reports it with the fix', async function () {
    // <userDir>/m365-mail is a file: the encrypted sign-in and the checkpoints cannot be kept.
    writeFileSync(path.join(userDir.path, 'm365-mail'), 'not a folder');
    nodeRed = await startNodeRed({ userDir: userDir.path, launcher: nodeRedLauncherPath(), flows: flow() });
    await nodeRed.waitForLog(/Started flows/);
    // The account reports it, and the reader names it as the reason it cannot start (its status is
    // set while the flow is created, before a status node hears it).
    await nodeRed.waitForLog(/\[m365-account:[^\]]*\] The folder .*m365-mail could not be created/);
    await nodeRed.waitForLog(/\[m365-imap-in:in\].*could not be created \(E[A-Z]+\).*Make .*m365-mail a folder/);
    await assertStaysUp();
  });
});
