import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ActionRunner, PendingActions, reportOf, type ActionSession, type SessionItem } from '../../../src/imap-action';
import { CheckpointStore } from '../../../src/state';
import { M365MailError } from '../../../src/core/errors';

/** A session that records what it is given and answers when the test says so. */
class RecordingSession {
  readonly items: SessionItem[] = [];
  submit(item: SessionItem): void { this.items.push(item); }
  withdraw(owner: string): SessionItem[] {
    const mine = this.items.filter((i) => i.owner === owner);
    this.items.splice(0, this.items.length, ...this.items.filter((i) => i.owner !== owner));
    return mine;
  }
  answerAll(): void {
    for (const item of this.items.splice(0)) item.settle(item.batch.uids.map((uid) => ({ uid, result: 'done' as const })));
  }
}

/** Polls `condition` until it holds (at most 5 s). */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('imap action runner', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'm365-runner-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function runner(session: RecordingSession, store = new CheckpointStore(dir)): ActionRunner {
    return new ActionRunner({ owner: 'n1', pending: PendingActions.open(store, 'imap-action:n1'), sessionFor: () => session as unknown as ActionSession, warn: () => undefined });
  }

  it('splits a list of UIDs longer than one command, and sums the outcome up', async () => {
    const session = new RecordingSession();
    const uids = Array.from({ length: 1200 }, (_, i) => i * 2 + 1);
    const done = runner(session).run({ mailbox: 'a@contoso.com', folder: 'INBOX', uids, action: 'read' });
    await until(() => session.items.length === 3);
    assert.deepEqual(session.items.map((i) => i.batch.uids.length), [500, 500, 200]);
    session.answerAll();
    const outcomes = await done;
    assert.equal(outcomes?.length, 1200);
    assert.equal(reportOf({ action: 'read' }, outcomes ?? [])?.result, 'done');
  });

  it('keeps what was not sent when the node closes, and applies it once on the next start', async () => {
    const session = new RecordingSession();
    const first = runner(session);
    const pending = first.run({ mailbox: 'a@contoso.com', folder: 'INBOX', uids: [5], action: 'copy', target: 'Done' });
    await until(() => session.items.length === 1);
    await first.close(100);
    assert.equal(await pending, undefined, 'the msg is not passed on');
    const next = new RecordingSession();
    const settled: number[][] = [];
    assert.equal(await runner(next).replay((stored) => settled.push(stored.uids)), 1);
    assert.deepEqual(next.items.map((i) => [i.batch.action, i.batch.target, i.batch.uids]), [['copy', 'Done', [5]]]);
    next.answerAll();
    await until(() => settled.length === 1);
    assert.deepEqual(settled, [[5]]);
    await until(async () => (await PendingActions.open(new CheckpointStore(dir), 'imap-action:n1')).size === 0);
    const third = new RecordingSession();
    assert.equal(await runner(third).replay(() => undefined), 0, 'applied once: nothing left for a third start');
    assert.equal(third.items.length, 0);
  });

  it('reports a stored action that cannot even be handed to a session, and keeps it for the next start', async () => {
    const store = new CheckpointStore(dir);
    const pending = await PendingActions.open(store, 'imap-action:n1');
    await pending.add({ mailbox: 'a@contoso.com', folder: 'INBOX', uids: [8], action: 'read' });
    const broken = new ActionRunner({
      owner: 'n1', pending: PendingActions.open(new CheckpointStore(dir), 'imap-action:n1'), warn: () => undefined,
      sessionFor: () => { throw new M365MailError('unsupported proxy', { kind: 'config' }); },
    });
    const failures: string[] = [];
    await broken.replay((_stored, outcomes) => outcomes.forEach((o) => o.result === 'failed' && failures.push(o.error.kind)));
    await until(() => failures.length === 1);
    assert.deepEqual(failures, ['config']);
    assert.equal((await PendingActions.open(new CheckpointStore(dir), 'imap-action:n1')).size, 1);
  });

  it('reports move/copy with the new UID and other actions with the mail\'s own UID', () => {
    assert.deepEqual(reportOf({ action: 'move' }, [{ uid: 4, result: 'done', newUid: 40 }]), { name: 'move', result: 'done', uid: 40 });
    assert.deepEqual(reportOf({ action: 'read' }, [{ uid: 4, result: 'done' }]), { name: 'read', result: 'done', uid: 4 });
    assert.deepEqual(reportOf({ action: 'read' }, [{ uid: 4, result: 'gone' }]), { name: 'read', result: 'gone', uid: 4 });
    assert.equal(reportOf({ action: 'read' }, [{ uid: 4, result: 'done' }, { uid: 5, result: 'gone' }])?.results?.length, 2);
  });
});
