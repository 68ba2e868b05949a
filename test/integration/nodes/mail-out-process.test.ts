/**
 * The outbox of m365-mail-out across a kill -9 of a real Node-RED process: 200 mails are taken
 * while the SMTP server is down, the server comes back, Node-RED is killed in the middle of
 * sending, and after a restart every mail is delivered, none lost, at most the one in flight twice.
 * The log is kept at trace level throughout and must show no token, XOAUTH2 line or secret.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { storedMailCount } from '../../../src/smtp/outbox-files';
import { APPS, USERS } from '../../env/identity/directory';
import { nodeRedLauncherPath, nodeRedVersion } from '../../support/node-red-package';
import { startNodeRed, type NodeRedProcess } from '../../support/node-red-process';
import { useNodeRedProcessBed } from './node-red-bed';
import { waitFor } from './wait-for';

const MAILS = 200;

describe(`m365-mail-out across a kill -9 of a real Node-RED ${nodeRedVersion()} process`, function () {
  this.timeout(120000);
  let nodeRed: NodeRedProcess | undefined;
  const { bed, userDir } = useNodeRedProcessBed({ userDirPrefix: 'm365-mailout-process-', stopProcess: () => nodeRed?.stop(), smtp: true });

  const outboxCount = (): number => storedMailCount(path.join(userDir.path, 'm365-mail', 'outbox', 'send'));
  const settings = { logging: { console: { level: 'trace', metrics: false, audit: false } } };

  it('loses no mail of the outbox and sends at most the one in flight twice', async function () {
    const smtp = bed.smtp!;
    smtp.reset();
    await smtp.down();
    const account = bed.accountFor('daemon');
    const flow = [
      { id: 'tab', type: 'tab', label: 'mail out' },
      { ...account.node('acc'), credentials: { clientSecret: account.credentials.clientSecret } },
      { id: 'kick', z: 'tab', type: 'inject', once: true, onceDelay: 0.1, repeat: '', props: [{ p: 'payload' }], payload: '', payloadType: 'date', wires: [['many']] },
      { id: 'many', z: 'tab', type: 'function', func: `for (let i = 0; i < ${MAILS}; i++) node.send({ payload: 'mail ' + i, topic: 'Kill ' + i, to: '${USERS.bob}' });\nreturn null;`, outputs: 1, wires: [['send']] },
      { id: 'send', z: 'tab', type: 'm365-mail-out', account: 'acc', mailbox: USERS.alice, pace: '0', wires: [[]] },
    ];
    nodeRed = await startNodeRed({ userDir: userDir.path, launcher: nodeRedLauncherPath(), flows: [], settings });
    const deployed = await fetch(`${nodeRed.url}/flows`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' }, body: JSON.stringify(flow),
    });
    assert.ok(deployed.ok, `deploy answered ${deployed.status}`);
    await waitFor(() => outboxCount() === MAILS, () => `${MAILS} mails in the outbox (have ${outboxCount()})`, 30000);

    await smtp.up();
    await waitFor(() => smtp.accepted.length >= 40, 'some mails to go out', 30000);
    await nodeRed.stop('SIGKILL');
    const firstLog = nodeRed.log();
    nodeRed = undefined;
    assert.ok(outboxCount() > 0 && outboxCount() < MAILS, `killed in the middle (outbox ${outboxCount()})`);

    // The restarted Node-RED must not take 200 more mails: the flow without its trigger.
    const flowsFile = path.join(userDir.path, 'flows.json');
    const saved = (JSON.parse(readFileSync(flowsFile, 'utf8')) as Array<{ id: string }>).filter((node) => node.id !== 'kick' && node.id !== 'many');
    writeFileSync(flowsFile, JSON.stringify(saved));
    nodeRed = await startNodeRed({ userDir: userDir.path, launcher: nodeRedLauncherPath(), settings });
    await waitFor(() => new Set(smtp.accepted.map((m) => m.messageId)).size >= MAILS, () => `all ${MAILS} mails delivered (have ${new Set(smtp.accepted.map((m) => m.messageId)).size})`, 60000);
    await waitFor(() => outboxCount() === 0, 'the outbox to be empty', 10000);

    const subjects = new Set(smtp.accepted.map((m) => /Subject: (.*)\r\n/.exec(m.raw.toString())?.[1]));
    for (let i = 0; i < MAILS; i++) assert.ok(subjects.has(`Kill ${i}`), `Kill ${i} delivered`);
    assert.ok(smtp.duplicateMessageIds().length <= 1, `at most the mail in flight twice (${smtp.duplicateMessageIds().length})`);
    assert.ok(smtp.accepted.length <= MAILS + 1);

    const log = firstLog + nodeRed.log();
    assert.match(log, /\[trace\]|\[debug\]/, 'the log ran at trace level');
    assert.doesNotMatch(log, /eyJ[\w-]{10,}\.[\w-]{10,}/, 'no JWT in the log');
    assert.doesNotMatch(log, /dXNlcj1|auth=Bearer/i, 'no XOAUTH2 line in the log');
    assert.ok(!log.includes(APPS.daemon.secret), 'no client secret in the log');
  });
});
