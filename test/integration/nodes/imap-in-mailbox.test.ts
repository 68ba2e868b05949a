/**
 * What m365-imap-in does to the mailbox, seen from outside the node (doveadm, i.e. a second
 * client of the same server): dispositions only after the msg was sent, non-ASCII folders, and a
 * shared mailbox opened with a delegated sign-in of another user — all inside the Node-RED runtime.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { DOVEADM_BINARY, type MessageInfo } from '../../env/dovecot';
import { USERS } from '../../env/identity/directory';
import { builtNodes, helper } from '../../support/helper';
import {
  assertExactlyOnce, Collector, IDLING, errorTexts, flowWith, imapInNode, mail, tempDir, useImapInBed, waitFor, waitForStatus,
} from './imap-in-support';

describe('m365-imap-in acts on the mailbox (Node-RED runtime, test bed)', function () {
  this.timeout(20000);
  const { bed, start } = useImapInBed();

  /**
   * The folder as the server has it right now. Synchronous on purpose: called from the receiving
   * node's input handler it blocks the event loop, so the node under test cannot send its next
   * IMAP command (the disposition) before the snapshot is taken.
   */
  function snapshotNow(mailbox: string, folder: string): MessageInfo[] {
    const out = execFileSync(DOVEADM_BINARY, ['-c', bed.dovecot.configFile, '-f', 'tab', 'fetch', '-u', mailbox, 'uid flags', 'mailbox', folder], { encoding: 'utf8' });
    return out.split('\n').slice(1).filter(Boolean).map((line) => {
      const [uid, flags = ''] = line.split('\t');
      return { uid: Number(uid), flags: flags.split(' ').filter((f) => f && f !== '\\Recent') };
    });
  }

  interface DispositionCase {
    disposition: 'read' | 'flag' | 'move' | 'delete';
    /** Whether the server shows the disposition as done for this message. */
    done(message: MessageInfo | undefined, movedCount: number): boolean;
  }

  const cases: DispositionCase[] = [
    { disposition: 'read', done: (m) => !!m?.flags.includes('\\Seen') },
    { disposition: 'flag', done: (m) => !!m?.flags.includes('\\Flagged') },
    { disposition: 'move', done: (m, moved) => m === undefined && moved > 0 },
    { disposition: 'delete', done: (m) => m === undefined },
  ];

  for (const { disposition, done } of cases) {
    it(`applies disposition "${disposition}" on the server, and only after the msg was sent`, async function () {
      const folder = `Disp-${disposition}`;
      const moveTo = `Processed-${disposition}`;
      await bed.dovecot.createFolder(USERS.alice, folder);
      await bed.dovecot.createFolder(USERS.alice, moveTo);
      const { node, out } = await start({ folder, criteria: 'new', disposition, moveTo: disposition === 'move' ? moveTo : '' });
      // What the server had for each mail at the moment its msg reached the next node.
      const atReceipt = new Map<number, MessageInfo | undefined>();
      helper.getNode('out').on('input', (msg: Record<string, unknown>) => {
        const uid = (msg.mail as { uid: number }).uid;
        atReceipt.set(uid, snapshotNow(USERS.alice, folder).find((m) => m.uid === uid));
      });

      const subjects = [`${disposition} 1`, `${disposition} 2`, `${disposition} 3`];
      await bed.dovecot.deliverMany(USERS.alice, subjects.map((s) => mail(s)), { folder });
      await out.waitForCount(3);
      for (const [uid, message] of atReceipt) {
        assert.ok(message, `mail UID ${uid} was still in the folder when its msg was sent`);
        assert.ok(!done(message, 0), `disposition of UID ${uid} was not applied before its msg was sent (flags then: ${message.flags.join(' ')})`);
      }
      const uids = out.uids;
      await waitFor(async () => {
        const now = await bed.dovecot.listMessages(USERS.alice, folder);
        const moved = (await bed.dovecot.listMessages(USERS.alice, moveTo)).length;
        return uids.every((uid) => done(now.find((m) => m.uid === uid), moved));
      }, `disposition ${disposition} on the server`);
      if (disposition === 'move') assert.equal((await bed.dovecot.listMessages(USERS.alice, moveTo)).length, 3, 'all three mails are in the target folder');
      assertExactlyOnce(out.topics, subjects);
      assert.deepEqual(errorTexts(node), [], 'no errors');
    });
  }

  it('leaves the mail untouched when its msg could not be built (disposition read, attachment folder unusable)', async function () {
    const folder = 'Disp-failing';
    await bed.dovecot.createFolder(USERS.alice, folder);
    const blocked = tempDir('m365-blocked-');
    try {
      // A regular file where the attachment folder should be: every save fails with a storage error.
      const attachmentDir = `${blocked.path}/file`;
      execFileSync('touch', [attachmentDir]);
      const { node, out } = await start({ folder, criteria: 'new', disposition: 'read', attachments: 'save', attachmentDir });
      await bed.dovecot.deliver(USERS.alice, mail('cannot be built', { attachments: [{ filename: 'a.txt', content: Buffer.from('x') }] }), { folder });
      await waitFor(() => errorTexts(node).some((t) => /not usable/.test(t)), 'the storage error reported to Catch');
      const messages = await bed.dovecot.listMessages(USERS.alice, folder);
      assert.equal(messages.length, 1, 'the mail is still in the folder');
      assert.ok(!messages[0].flags.includes('\\Seen'), 'the mail was not marked read without a msg');
      assert.equal(out.received.length, 0, 'no msg was sent');
    } finally {
      blocked.remove();
    }
  });

  it('watches a folder with a non-ASCII name and moves mail into another one', async function () {
    const folder = 'Rechnungen/Ärger';
    const moveTo = 'Archiv/Überprüft ✓';
    await bed.dovecot.createFolder(USERS.alice, folder);
    await bed.dovecot.createFolder(USERS.alice, moveTo);
    const { node, out } = await start({ folder, criteria: 'new', disposition: 'move', moveTo });
    await bed.dovecot.deliver(USERS.alice, mail('Rechnung Nr. 1 – Größe'), { folder });
    await out.waitForCount(1);
    const msg = out.received[0].msg;
    assert.equal(msg.topic, 'Rechnung Nr. 1 – Größe');
    assert.equal((msg.mail as { folder: string }).folder, folder, 'msg.mail.folder is the Unicode name, not modified UTF-7');
    await waitFor(async () => (await bed.dovecot.listMessages(USERS.alice, moveTo)).length === 1, 'the mail in the target folder');
    assert.equal((await bed.dovecot.listMessages(USERS.alice, folder)).length, 0, 'the watched folder is empty after the move');
    assert.deepEqual(errorTexts(node), []);
  });

  it('reads a shared mailbox with the delegated sign-in of a user who has access to it (device code)', async function () {
    const folder = 'Shared';
    await bed.dovecot.createFolder(USERS.support, folder);
    const account = bed.accountFor('public');
    await helper.load(builtNodes(), [account.node('acc')], {});
    // Sign alice in as a user would from the account's edit dialog.
    const started = await helper.request().post('/m365-mail/accounts/acc/sign-in').send({}).expect(200);
    const userCode = (started.body as { userCode?: string }).userCode;
    assert.ok(userCode, 'the sign-in shows a device code');
    bed.identity.approveDeviceCode(userCode, USERS.alice);
    await waitFor(async () => {
      const status = await helper.request().get('/m365-mail/accounts/acc/sign-in').expect(200);
      return (status.body as { state?: string }).state === 'signed-in';
    }, 'the sign-in to complete');
    const signedIn = await helper.request().get('/m365-mail/accounts/acc/sign-in').expect(200);
    assert.equal((signedIn.body as { username?: string }).username, USERS.alice);

    await helper.setFlows(flowWith(account, imapInNode('in', { mailbox: USERS.support, folder, criteria: 'new' })), 'full', {});
    const node = helper.getNode('in');
    const out = new Collector(helper.getNode('out'));
    await waitForStatus(node, IDLING);
    await bed.dovecot.deliver(USERS.support, mail('Ticket 42', { to: USERS.support }), { folder });
    await out.waitForCount(1);
    const msg = out.received[0].msg;
    assert.equal(msg.topic, 'Ticket 42');
    assert.equal((msg.mail as { mailbox: string }).mailbox, USERS.support);
    assert.deepEqual(errorTexts(node), []);
  });
});
