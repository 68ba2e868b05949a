/**
 * The actions of m365-imap-action (src/imap-action) against Dovecot with real XOAUTH2: every
 * action's effect as a second client sees it, the answer for a mail that is gone, a rebuilt
 * folder refused, delete that expunges only its own mail, and many requests merged into one
 * command per action.
 */
import assert from 'node:assert/strict';
import type { ImapFlow } from 'imapflow';
import { ActionSession, type ActionBatch, type UidOutcome } from '../../../src/imap-action';
import { applyBatch } from '../../../src/imap-action/apply';
import { USERS } from '../../env/identity/directory';
import { daemonTokenSource, inspector, rawMail, startImapBed, type ImapBed } from './bed';

describe('imap actions against the test bed', function () {
  this.timeout(30000);
  let bed: ImapBed;
  let look: ImapFlow;
  let session: ActionSession;
  const commands: ActionBatch[] = [];

  before(async function () {
    bed = await startImapBed();
    const tokens = daemonTokenSource(bed);
    look = await inspector(bed, tokens);
    session = new ActionSession({
      connection: { host: bed.dovecot.host, port: bed.dovecot.imapPort, mailbox: USERS.alice, tokenSource: tokens, tls: { ca: bed.ca.caCertPem } },
      apply: (client, batch) => { commands.push(batch); return applyBatch(client, batch); },
    });
  });
  after(async function () {
    await session?.stop();
    await look?.logout().catch(() => undefined);
    await bed?.stop();
  });

  /** Delivers `count` mails into a fresh folder and returns their UIDs. */
  async function folderWith(folder: string, count: number): Promise<number[]> {
    await bed.dovecot.createFolder(USERS.alice, folder);
    await bed.dovecot.deliverMany(USERS.alice, Array.from({ length: count }, (_, i) => rawMail(`${folder}-${i}`)), { folder });
    return (await bed.dovecot.listMessages(USERS.alice, folder)).map((m) => m.uid);
  }

  function act(batch: ActionBatch): Promise<UidOutcome[]> {
    return new Promise((resolve) => session.submit({ batch, owner: 'test', settle: resolve }));
  }

  async function flagsOf(folder: string): Promise<Map<number, string[]>> {
    return new Map((await bed.dovecot.listMessages(USERS.alice, folder)).map((m) => [m.uid, m.flags]));
  }

  it('marks read and unread, flags and unflags, adds and removes a keyword, as a second client sees', async function () {
    const folder = 'ActFlags';
    const [uid] = await folderWith(folder, 1);
    const steps: Array<[ActionBatch['action'], string | undefined, (flags: string[]) => boolean]> = [
      ['read', undefined, (f) => f.includes('\\Seen')],
      ['flag', undefined, (f) => f.includes('\\Flagged')],
      ['add-keyword', '$Processed', (f) => f.includes('$Processed')],
      ['unread', undefined, (f) => !f.includes('\\Seen')],
      ['unflag', undefined, (f) => !f.includes('\\Flagged')],
      ['remove-keyword', '$Processed', (f) => !f.includes('$Processed')],
    ];
    for (const [action, keyword, holds] of steps) {
      const outcome = await act({ folder, action, keyword, uids: [uid] });
      assert.deepEqual(outcome, [{ uid, result: 'done', newUid: undefined }], action);
      await look.mailboxOpen(folder, { readOnly: true });
      const seen = await look.fetchOne(String(uid), { flags: true }, { uid: true });
      assert.ok(seen && holds([...(seen.flags ?? [])]), `${action}: flags now ${[...((seen && seen.flags) || [])].join(' ')}`);
    }
  });

  it('moves and copies with the new UID from COPYUID, and fetches the source again', async function () {
    const [moved, copied, fetched] = await folderWith('ActMove', 3);
    await bed.dovecot.createFolder(USERS.alice, 'ActDone');
    const [move] = await act({ folder: 'ActMove', action: 'move', target: 'ActDone', uids: [moved] });
    const [copy] = await act({ folder: 'ActMove', action: 'copy', target: 'ActDone', uids: [copied] });
    assert.equal(move.result, 'done');
    assert.equal(copy.result, 'done');
    const done = (await bed.dovecot.listMessages(USERS.alice, 'ActDone')).map((m) => m.uid);
    assert.deepEqual(done.sort(), [(move as { newUid: number }).newUid, (copy as { newUid: number }).newUid].sort());
    assert.deepEqual((await bed.dovecot.listMessages(USERS.alice, 'ActMove')).map((m) => m.uid), [copied, fetched], 'the moved mail left, the copied one stayed');
    const [again] = await act({ folder: 'ActMove', action: 'fetch', uids: [fetched] });
    assert.equal(again.result, 'done');
    assert.match((again as { fetched: { source: Buffer } }).fetched.source.toString(), /Subject: ActMove-2/);
    assert.ok(!(await flagsOf('ActMove')).get(fetched)?.includes('\\Seen'), 'fetch leaves the mail unread');
  });

  it('answers gone for a mail that is no longer there, and refuses a rebuilt folder', async function () {
    const folder = 'ActGone';
    const [first, second] = await folderWith(folder, 2);
    const [gone] = await act({ folder, action: 'read', uids: [second + 100] });
    assert.deepEqual(gone, { uid: second + 100, result: 'gone' });
    const { uidvalidity } = await bed.dovecot.folderStatus(USERS.alice, folder);
    const [ok] = await act({ folder, action: 'read', uids: [first], uidValidity: String(uidvalidity) });
    assert.equal(ok.result, 'done');
    await session.stop();
    await bed.dovecot.doveadm(['mailbox', 'update', '-u', USERS.alice, '--uid-validity', String(uidvalidity + 7), folder]);
    const tokens = daemonTokenSource(bed);
    session = new ActionSession({ connection: { host: bed.dovecot.host, port: bed.dovecot.imapPort, mailbox: USERS.alice, tokenSource: tokens, tls: { ca: bed.ca.caCertPem } },
      apply: (client, batch) => { commands.push(batch); return applyBatch(client, batch); } });
    const [refused] = await act({ folder, action: 'flag', uids: [second], uidValidity: String(uidvalidity) });
    assert.equal(refused.result, 'failed');
    assert.equal((refused as { error: { kind: string } }).error.kind, 'uidvalidity-changed');
    assert.ok(!(await flagsOf(folder)).get(second)?.includes('\\Flagged'), 'nothing was done');
  });

  it('deletes only its own mail: other mails marked \\Deleted stay', async function () {
    const folder = 'ActDelete';
    const [mine, marked, other] = await folderWith(folder, 3);
    await look.mailboxOpen(folder);
    await look.messageFlagsAdd(String(marked), ['\\Deleted'], { uid: true });
    const [deleted] = await act({ folder, action: 'delete', uids: [mine] });
    assert.equal(deleted.result, 'done');
    const left = await flagsOf(folder);
    assert.deepEqual([...left.keys()], [marked, other]);
    assert.ok(left.get(marked)?.includes('\\Deleted'), 'the other \\Deleted mail is still there');
  });

  it('applies 300 requests that arrive together in a few commands, one per action and folder', async function () {
    const folder = 'ActBatch';
    const uids = await folderWith(folder, 300);
    commands.length = 0;
    const outcomes = await Promise.all(uids.map((uid) => act({ folder, action: 'read', uids: [uid] })));
    assert.ok(outcomes.every(([o]) => o.result === 'done'));
    assert.ok(commands.length <= 2, `${commands.length} commands for 300 requests`);
    assert.equal((await bed.dovecot.folderStatus(USERS.alice, folder)).unseen, 0);
  });
});
