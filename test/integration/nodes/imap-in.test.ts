import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestBed, type TestBed } from '../../env/testbed';
import { USERS } from '../../env/identity/directory';
import { builtNodes, helper } from '../../support/helper';

function mail(subject: string, body = 'Hello from the test bed'): string {
  return [
    'From: Sender <sender@example.com>', `To: ${USERS.alice}`, `Subject: ${subject}`,
    `Message-ID: <${subject.replace(/\W/g, '')}@example.com>`, 'Date: Mon, 23 Nov 2026 10:00:00 +0000',
    'Content-Type: text/plain; charset=utf-8', '', body, '',
  ].join('\r\n');
}

describe('m365-imap-in in the Node-RED runtime (test bed)', function () {
  this.timeout(30000);
  let bed: TestBed;
  let userDir: string;

  before(async function () {
    bed = await startTestBed();
  });
  after(async function () {
    await bed?.stop();
  });
  beforeEach(function () {
    userDir = mkdtempSync(path.join(os.tmpdir(), 'm365-nr-'));
    helper.settings({ userDir });
  });
  afterEach(async function () {
    await helper.unload();
    rmSync(userDir, { recursive: true, force: true });
  });

  it('emits a mail delivered while idling, with the contract fields', async function () {
    const account = bed.accountFor('daemon');
    const flow = [
      account.node('acc'),
      { id: 'in', type: 'm365-imap-in', account: 'acc', mailbox: USERS.alice, folder: 'INBOX', mode: 'idle', criteria: 'new', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ];
    await helper.load(builtNodes(), flow, { acc: account.credentials });
    const out = helper.getNode('out');
    const inNode = helper.getNode('in');
    await new Promise<void>((resolve) => {
      const check = (): void => {
        const calls = (inNode.status as { args?: unknown[][] }).args ?? [];
        if (calls.some((c) => /watching/.test(JSON.stringify(c[0])))) resolve();
        else setTimeout(check, 50);
      };
      check();
    });
    const received = new Promise<Record<string, unknown>>((resolve) => out.on('input', resolve));
    const deliveredAt = Date.now();
    await bed.dovecot.deliver(USERS.alice, mail('Pushed'));
    const msg = await received;
    assert.ok(Date.now() - deliveredAt < 2000, 'emitted within 2 s of delivery');
    assert.equal(msg.topic, 'Pushed');
    assert.equal(msg.from, 'sender@example.com');
    assert.match(String(msg.payload), /Hello from the test bed/);
    const meta = msg.mail as Record<string, unknown>;
    assert.equal(meta.protocol, 'imap');
    assert.equal(meta.mailbox, USERS.alice);
    assert.equal(meta.folder, 'INBOX');
    assert.equal(typeof meta.uid, 'number');
  });
});
