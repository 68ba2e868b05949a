/**
 * m365-imap-action in the Node-RED runtime against the test bed: each action's effect as Dovecot
 * itself (doveadm, a second client) sees it; the "acknowledge after processing" flow, where mails
 * whose middle step failed stay unread and go to a Catch branch; a rebuilt folder refused; delete
 * that leaves other \Deleted mails alone; a mail already gone.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { USERS } from '../../env/identity/directory';
import { builtNodes, helper } from '../../support/helper';
import { Collector, errorTexts, mail, waitForStatus } from './imap-in-support';
import { useNodeRedBed } from './node-red-bed';

type Msg = Record<string, unknown>;
interface Receiver { receive(msg: Msg): void; send(msg: Msg): void; error(error: unknown, msg: Msg): void; on(event: 'input', listener: (msg: Msg) => void): void }

describe('m365-imap-action in the Node-RED runtime (test bed)', function () {
  this.timeout(30000);
  const { bed, userDir } = useNodeRedBed({ userDirPrefix: 'm365-action-' });

  async function folderWith(folder: string, subjects: string[]): Promise<number[]> {
    await bed.dovecot.createFolder(USERS.alice, folder);
    await bed.dovecot.deliverMany(USERS.alice, subjects.map((s) => mail(s)), { folder });
    return (await bed.dovecot.listMessages(USERS.alice, folder)).map((m) => m.uid);
  }

  async function flags(folder: string): Promise<Map<number, string[]>> {
    return new Map((await bed.dovecot.listMessages(USERS.alice, folder)).map((m) => [m.uid, m.flags]));
  }

  /** Account 'acc', the action node 'act' (→ 'out'), a Catch on it (→ 'caught'). */
  async function loadAction(props: Msg): Promise<{ act: Receiver; out: Collector; caught: Collector }> {
    const account = bed.accountFor('daemon');
    await helper.load(builtNodes(), [
      { id: 'tab', type: 'tab', label: 'actions' },
      account.node('acc'),
      { id: 'act', z: 'tab', type: 'm365-imap-action', account: 'acc', mailbox: USERS.alice, wires: [['out']], ...props },
      { id: 'out', z: 'tab', type: 'helper' },
      { id: 'catcher', z: 'tab', type: 'catch', scope: ['act'], uncaught: false, wires: [['caught']] },
      { id: 'caught', z: 'tab', type: 'helper' },
    ], { acc: account.credentials });
    return { act: helper.getNode('act') as unknown as Receiver, out: new Collector(helper.getNode('out')), caught: new Collector(helper.getNode('caught')) };
  }

  it('applies each action, as a second client sees it, and reports it on msg.mail.action', async function () {
    const folder = 'NodeActions';
    const [uid, copied, moved, deleted, fetched] = await folderWith(folder, ['one', 'two', 'three', 'four', 'five']);
    await bed.dovecot.createFolder(USERS.alice, 'NodeDone');
    const { act, out } = await loadAction({ folder, actionFromMsg: true });
    const run = async (msg: Msg): Promise<Msg> => {
      const before = out.received.length;
      act.receive(msg);
      await out.waitForCount(before + 1);
      return out.received[before].msg;
    };
    const expectations: Array<[string, string | undefined, (f: string[]) => boolean]> = [
      ['read', undefined, (f) => f.includes('\\Seen')],
      ['flag', undefined, (f) => f.includes('\\Flagged')],
      ['add-keyword', '$Processed', (f) => f.includes('$Processed')],
      ['unread', undefined, (f) => !f.includes('\\Seen')],
      ['unflag', undefined, (f) => !f.includes('\\Flagged')],
      ['remove-keyword', '$Processed', (f) => !f.includes('$Processed')],
    ];
    for (const [action, keyword, holds] of expectations) {
      const msg = await run({ uid, action, keyword });
      assert.deepEqual((msg.mail as Msg).action, { name: action, result: 'done', uid }, action);
      const now = (await flags(folder)).get(uid) ?? [];
      assert.ok(holds(now), `${action}: flags are ${now.join(' ')}`);
    }
    const copy = (await run({ uid: copied, action: 'copy', target: 'NodeDone' })).mail as { action: { uid: number } };
    const move = (await run({ uid: moved, action: 'move', target: 'NodeDone' })).mail as { action: { uid: number } };
    assert.deepEqual([...(await flags('NodeDone')).keys()].sort(), [copy.action.uid, move.action.uid].sort(), 'new UIDs from COPYUID');
    await run({ uid: deleted, action: 'delete' });
    const left = [...(await flags(folder)).keys()];
    assert.deepEqual(left, [uid, copied, fetched], 'moved and deleted mails left the folder, the copied one stayed');
    const again = await run({ uid: fetched, action: 'fetch', payload: 'input' });
    assert.equal(again.topic, 'five');
    assert.match(String(again.payload), /Hello from the test bed/);
    assert.equal((again.mail as Msg).uid, fetched);
    assert.ok(!(await flags(folder)).get(fetched)?.includes('\\Seen'), 'fetch leaves the mail unread');
    await waitForStatus(act, /status\.done/);
  });

  it('acknowledges after processing: mails whose middle step fails stay unread and reach the Catch branch', async function () {
    const folder = 'NodeAck';
    const subjects = Array.from({ length: 12 }, (_, i) => (i % 4 === 1 ? `bad-${i}` : `good-${i}`));
    await folderWith(folder, subjects);
    const account = bed.accountFor('daemon');
    await helper.load(builtNodes(), [
      { id: 'tab', type: 'tab', label: 'ack' },
      account.node('acc'),
      { id: 'in', z: 'tab', type: 'm365-imap-in', account: 'acc', mailbox: USERS.alice, folder, mode: 'idle', criteria: 'all', disposition: 'none', wires: [['work']] },
      { id: 'work', z: 'tab', type: 'helper', wires: [['markRead']] },
      { id: 'markRead', z: 'tab', type: 'm365-imap-action', account: 'acc', action: 'read', wires: [['out']] },
      { id: 'out', z: 'tab', type: 'helper' },
      { id: 'catcher', z: 'tab', type: 'catch', scope: ['work'], uncaught: false, wires: [['markFailed']] },
      { id: 'markFailed', z: 'tab', type: 'm365-imap-action', account: 'acc', action: 'add-keyword', keyword: 'Failed', wires: [['failed']] },
      { id: 'failed', z: 'tab', type: 'helper' },
    ], { acc: account.credentials });
    // The middle step of the flow: fails for the "bad" mails (as a function node that throws).
    const work = helper.getNode('work') as unknown as Receiver;
    work.on('input', (msg) => {
      if (String(msg.topic).startsWith('bad')) work.error(new Error('the database is down'), msg);
      else work.send(msg);
    });
    const out = new Collector(helper.getNode('out'));
    const failed = new Collector(helper.getNode('failed'));
    await out.waitForCount(9);
    await failed.waitForCount(3);
    const byUid = await flags(folder);
    const messages = await bed.dovecot.listMessages(USERS.alice, folder);
    assert.equal(messages.length, 12);
    const unread = messages.filter((m) => !m.flags.includes('\\Seen')).map((m) => m.uid).sort((a, b) => a - b);
    const failedUids = failed.received.map((r) => Number((r.msg.mail as Msg).uid)).sort((a, b) => a - b);
    assert.deepEqual(unread, failedUids, 'exactly the failed mails are unread');
    for (const uid of failedUids) assert.ok(byUid.get(uid)?.includes('Failed'), `UID ${uid} carries the keyword Failed`);
    assert.deepEqual(out.received.map((r) => (r.msg.mail as { action: Msg }).action.result), Array(9).fill('done'));
    assert.deepEqual(failed.received.map((r) => String(r.msg.topic)).sort(), ['bad-1', 'bad-5', 'bad-9']);
  });

  it('refuses a mail whose folder was rebuilt (UIDVALIDITY changed) and does nothing to it', async function () {
    const folder = 'NodeRebuilt';
    const [uid] = await folderWith(folder, ['rebuilt']);
    const { uidvalidity } = await bed.dovecot.folderStatus(USERS.alice, folder);
    await bed.dovecot.doveadm(['mailbox', 'update', '-u', USERS.alice, '--uid-validity', String(uidvalidity + 5), folder]);
    const { act, out, caught } = await loadAction({ folder, action: 'flag' });
    act.receive({ mail: { protocol: 'imap', mailbox: USERS.alice, folder, uid, uidValidity: String(uidvalidity) } });
    await caught.waitForCount(1);
    const error = caught.received[0].msg as { error: { code: string; message: string } };
    assert.equal(error.error.code, 'uidvalidity-changed');
    assert.match(error.error.message, /rebuilt/);
    assert.equal(out.received.length, 0);
    assert.ok(!(await flags(folder)).get(uid)?.includes('\\Flagged'), 'the mail was not touched');
    assert.ok(errorTexts(act).length === 1);
  });

  it('deletes only its own mail while other mails marked \\Deleted stay, and answers gone for a vanished mail', async function () {
    const folder = 'NodeDelete';
    const [mine, marked, other] = await folderWith(folder, ['mine', 'marked', 'other']);
    await bed.dovecot.doveadm(['flags', 'add', '-u', USERS.alice, '\\Deleted', 'mailbox', folder, 'uid', String(marked)]);
    const { act, out } = await loadAction({ folder, action: 'delete' });
    act.receive({ uid: mine });
    await out.waitForCount(1);
    assert.deepEqual((out.received[0].msg.mail as Msg).action, { name: 'delete', result: 'done', uid: mine });
    const left = await flags(folder);
    assert.deepEqual([...left.keys()], [marked, other]);
    assert.ok(left.get(marked)?.includes('\\Deleted'), 'the other \\Deleted mail is still there');
    act.receive({ uid: mine });
    await out.waitForCount(2);
    assert.deepEqual((out.received[1].msg.mail as Msg).action, { name: 'delete', result: 'gone', uid: mine });
  });

  it('shares one IMAP connection between the action nodes of one account and mailbox', async function () {
    const folder = 'NodeShared';
    const [first, second] = await folderWith(folder, ['s1', 's2']);
    const account = bed.accountFor('daemon');
    await helper.load(builtNodes(), [
      { id: 'tab', type: 'tab', label: 'shared' },
      account.node('acc'),
      { id: 'reader', z: 'tab', type: 'm365-imap-action', account: 'acc', mailbox: USERS.alice, folder, action: 'read', wires: [['out']] },
      { id: 'flagger', z: 'tab', type: 'm365-imap-action', account: 'acc', mailbox: USERS.alice, folder, action: 'flag', wires: [['out']] },
      { id: 'out', z: 'tab', type: 'helper' },
    ], { acc: account.credentials });
    const out = new Collector(helper.getNode('out'));
    (helper.getNode('reader') as unknown as Receiver).receive({ uid: first });
    (helper.getNode('flagger') as unknown as Receiver).receive({ uid: second });
    await out.waitForCount(2);
    const who = await bed.dovecot.doveadm(['who', USERS.alice]);
    const sessions = who.split('\n').slice(1).filter((line) => line.includes('imap')).reduce((n, line) => n + Number(/\s(\d+)\s+imap/.exec(line)?.[1] ?? 1), 0);
    assert.equal(sessions, 1, `IMAP sessions of alice: ${who}`);
    const now = await flags(folder);
    assert.ok(now.get(first)?.includes('\\Seen') && now.get(second)?.includes('\\Flagged'));
  });

  it('starts with an error status and the fix, not an exception, when its state folder cannot be created', async function () {
    writeFileSync(path.join(userDir.path, 'm365-mail'), 'a file where the state folder belongs');
    const { act } = await loadAction({ action: 'read' });
    await waitForStatus(act, /errorKind\.(storage|config)/);
    assert.ok(errorTexts(act).some((text) => /m365-mail/.test(text)), errorTexts(act).join(' | '));
  });

  it('reports a msg that names no mail to Catch, with a fix', async function () {
    const { act, caught } = await loadAction({ action: 'read' });
    act.receive({ payload: 'no mail here' });
    await caught.waitForCount(1);
    const msg = caught.received[0].msg as { error: { code: string }; _error: { fix: string } };
    assert.equal(msg.error.code, 'config');
    assert.match(msg._error.fix, /msg\.uid/);
  });
});
