import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PendingActions } from '../../../src/imap-action';
import { CheckpointStore } from '../../../src/state';

describe('pending imap actions', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'm365-pending-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps accepted actions across a reopen until they are removed', async () => {
    const store = new CheckpointStore(dir);
    const pending = await PendingActions.open(store, 'imap-action:n1');
    const first = await pending.add({ mailbox: 'a@contoso.com', folder: 'INBOX', uids: [1], uidValidity: '5', action: 'read' });
    await pending.add({ mailbox: 'a@contoso.com', folder: 'INBOX', uids: [2, 3], action: 'move', target: 'Done' });
    const reopened = await PendingActions.open(new CheckpointStore(dir), 'imap-action:n1');
    assert.deepEqual(reopened.list().map((a) => a.uids), [[1], [2, 3]]);
    await pending.remove(first);
    const again = await PendingActions.open(new CheckpointStore(dir), 'imap-action:n1');
    assert.deepEqual(again.list().map((a) => [a.action, a.target]), [['move', 'Done']]);
    const next = await again.add({ mailbox: 'a@contoso.com', folder: 'INBOX', uids: [4], action: 'read' });
    assert.ok(next > first, 'ids are never reused');
  });

  it('coalesces the writes of many actions added at once', async () => {
    const store = new CheckpointStore(dir);
    let writes = 0;
    const set = store.set.bind(store);
    store.set = async (key, value) => { writes++; return set(key, value); };
    const pending = await PendingActions.open(store, 'k');
    await Promise.all(Array.from({ length: 500 }, (_, i) => pending.add({ mailbox: 'a@contoso.com', folder: 'INBOX', uids: [i + 1], action: 'read' })));
    assert.ok(writes <= 3, `${writes} writes for 500 actions`);
    assert.equal((await PendingActions.open(new CheckpointStore(dir), 'k')).size, 500);
  });
});
