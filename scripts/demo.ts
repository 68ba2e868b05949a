/**
 * `npm run demo`: the local Microsoft 365 stand-in (identity server + Dovecot, see test/env) and a
 * real Node-RED on http://127.0.0.1:1880 with this package and a flow that already receives the
 * stand-in's mail. A new mail arrives every 20 seconds; open the debug sidebar to see them.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { USERS } from '../test/env/identity/directory';
import { startTestBed } from '../test/env/testbed';
import { linkPackageInto } from '../test/support/linked-package';
import { nodeRedLauncherPath } from '../test/support/node-red-package';
import { startNodeRed } from '../test/support/node-red-process';

const PORT = Number(process.env.PORT ?? 1880);
const userDir = path.resolve(__dirname, '../.cache/demo-user-dir');
const NEW_MAIL_EVERY_MS = 20000;

function demoMail(n: number, subject: string, body: string): string {
  return [
    'From: Bob Brown <bob@contoso.com>', `To: Alice Adams <${USERS.alice}>`, `Subject: ${subject}`,
    `Message-ID: <demo-${n}-${Date.now()}@contoso.com>`, `Date: ${new Date().toUTCString()}`, 'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8', '', body, '',
  ].join('\r\n');
}

async function main(): Promise<void> {
  const bed = await startTestBed();
  await bed.dovecot.deliverMany(USERS.alice, [
    demoMail(1, 'Welcome to the m365-mail demo', 'This mail was already in the inbox when the flow started.'),
    demoMail(2, 'Grüße aus Köln', 'Unicode subjects and bodies work, too.'),
  ]);

  rmSync(userDir, { recursive: true, force: true });
  linkPackageInto(userDir);
  const nodeRed = await startNodeRed({
    userDir, launcher: nodeRedLauncherPath(), port: PORT, flows: [],
    env: { NODE_EXTRA_CA_CERTS: bed.ca.caCertFile },
  });

  const account = bed.accountFor('daemon');
  const flow = [
    { id: 'demo-tab', type: 'tab', label: 'm365-mail demo' },
    { ...account.node('demo-account'), name: 'Local Microsoft 365 stand-in', credentials: account.credentials },
    { id: 'demo-in', type: 'm365-imap-in', z: 'demo-tab', name: 'alice@contoso.com / INBOX', account: 'demo-account', mailbox: USERS.alice, folder: 'INBOX', mode: 'idle', interval: '60', criteria: 'all', disposition: 'none', attachments: 'include', maxAttachmentBytes: '26214400', output: 'parsed', batchSize: '100', x: 190, y: 100, wires: [['demo-debug']] },
    { id: 'demo-debug', type: 'debug', z: 'demo-tab', name: 'mail', active: true, tosidebar: true, console: false, complete: 'true', targetType: 'full', x: 420, y: 100, wires: [] },
    { id: 'demo-catch', type: 'catch', z: 'demo-tab', name: 'errors', scope: null, uncaught: false, x: 170, y: 160, wires: [['demo-errors']] },
    { id: 'demo-errors', type: 'debug', z: 'demo-tab', name: 'error', active: true, tosidebar: true, console: false, complete: 'error', targetType: 'msg', x: 420, y: 160, wires: [] },
  ];
  const deployed = await fetch(`${nodeRed.url}/flows`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' }, body: JSON.stringify(flow),
  });
  if (!deployed.ok) throw new Error(`deploying the demo flow failed: HTTP ${deployed.status} ${await deployed.text()}`);

  let n = 3;
  const timer = setInterval(() => {
    bed.dovecot.deliver(USERS.alice, demoMail(n, `Demo mail #${n}`, `Sent by the demo at ${new Date().toLocaleTimeString()}.`)).catch(() => undefined);
    n += 1;
  }, NEW_MAIL_EVERY_MS);

  process.stdout.write([
    '',
    `Node-RED with @m365-mail/node-red-m365-mail: ${nodeRed.url}  (open the debug sidebar)`,
    `A new mail arrives every ${NEW_MAIL_EVERY_MS / 1000} s in ${USERS.alice}'s INBOX. Ctrl-C stops everything.`,
    `Sandbox settings for your own flows: run "npm run sandbox" instead.`,
    '',
  ].join('\n'));

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    Promise.allSettled([nodeRed.stop(), bed.stop()]).then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
