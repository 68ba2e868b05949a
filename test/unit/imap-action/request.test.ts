import assert from 'node:assert/strict';
import { M365MailError } from '../../../src/core/errors';
import { resolveActionRequest, type ActionDefaults } from '../../../src/imap-action';
import { checkFlagChange } from '../../../src/imap-action/apply';
import { takeBatch } from '../../../src/imap-action/batching';
import type { ActionBatch } from '../../../src/imap-action';

const DEFAULTS: ActionDefaults = { mailbox: 'alice@contoso.com', folder: 'INBOX', action: 'read', keyword: '', target: '', actionFromMsg: false };

describe('imap action requests', () => {
  it('takes the mail a reader emitted from msg.mail, with its UIDVALIDITY', () => {
    const request = resolveActionRequest({ mail: { protocol: 'imap', mailbox: 'support@contoso.com', folder: 'Orders', uid: 42, uidValidity: '1700' } }, DEFAULTS);
    assert.deepEqual(request, { mailbox: 'support@contoso.com', folder: 'Orders', uids: [42], uidValidity: '1700', action: 'read', keyword: undefined, target: undefined });
  });

  it('takes msg.uid (one or a list) with msg.folder and msg.mailbox, the node filling the rest', () => {
    assert.deepEqual(resolveActionRequest({ uid: [3, '4', 3] }, DEFAULTS), { mailbox: 'alice@contoso.com', folder: 'INBOX', uids: [3, 4], uidValidity: undefined, action: 'read', keyword: undefined, target: undefined });
    const request = resolveActionRequest({ uid: 7, folder: 'Archive', mailbox: 'bob@contoso.com' }, DEFAULTS);
    assert.ok(!(request instanceof M365MailError));
    assert.equal(request.folder, 'Archive');
    assert.equal(request.mailbox, 'bob@contoso.com');
  });

  it('refuses a msg without a UID, a bad UID and a POP3 mail, with a fix', () => {
    for (const msg of [{ payload: 'x' }, { uid: 'abc' }, { uid: [] }, { uid: 0 }, { mail: { protocol: 'pop3', uid: 1 } }]) {
      const result = resolveActionRequest(msg, DEFAULTS);
      assert.ok(result instanceof M365MailError && result.kind === 'config' && result.fix, JSON.stringify(msg));
    }
  });

  it('lets msg.action, msg.target and msg.keyword count only with actionFromMsg', () => {
    const msg = { uid: 1, action: 'move', target: 'Failed' };
    assert.equal((resolveActionRequest(msg, DEFAULTS) as { action: string }).action, 'read');
    const request = resolveActionRequest(msg, { ...DEFAULTS, actionFromMsg: true });
    assert.ok(!(request instanceof M365MailError));
    assert.equal(request.action, 'move');
    assert.equal(request.target, 'Failed');
    assert.ok(resolveActionRequest({ uid: 1, action: 'explode' }, { ...DEFAULTS, actionFromMsg: true }) instanceof M365MailError);
  });

  it('needs a target for move/copy (not the mail\'s own folder) and a valid keyword', () => {
    assert.ok(resolveActionRequest({ uid: 1 }, { ...DEFAULTS, action: 'move' }) instanceof M365MailError);
    assert.ok(resolveActionRequest({ uid: 1 }, { ...DEFAULTS, action: 'copy', target: 'INBOX' }) instanceof M365MailError);
    assert.ok(resolveActionRequest({ uid: 1 }, { ...DEFAULTS, action: 'add-keyword', keyword: 'two words' }) instanceof M365MailError);
    assert.ok(resolveActionRequest({ uid: 1 }, { ...DEFAULTS, action: 'add-keyword', keyword: '\\Seen' }) instanceof M365MailError);
    assert.equal((resolveActionRequest({ uid: 1 }, { ...DEFAULTS, action: 'add-keyword', keyword: '$Done' }) as { keyword: string }).keyword, '$Done');
  });
});

describe('imap action batching', () => {
  const item = (action: ActionBatch['action'], uids: number[], folder = 'INBOX') => ({ batch: { folder, action, uids } });

  it('merges requests with the same folder and action into one UID set, leaving the others queued', () => {
    const queue = [item('read', [1]), item('move', [9]), item('read', [2]), item('read', [3], 'Other'), item('read', [4])];
    const taken = takeBatch(queue);
    assert.deepEqual(taken?.batch.uids, [1, 2, 4]);
    assert.equal(taken?.items.length, 3);
    assert.deepEqual(queue.map((q) => q.batch.uids[0]), [9, 3]);
  });

  it('never takes an action ahead of an earlier different action on the same mail', () => {
    const queue = [item('read', [1]), item('move', [2]), item('read', [2]), item('read', [3])];
    assert.deepEqual(takeBatch(queue)?.batch.uids, [1, 3]);
    assert.deepEqual(takeBatch(queue)?.batch.action, 'move');
    assert.deepEqual(takeBatch(queue)?.batch.uids, [2]);
  });

  it('caps a command at 500 UIDs', () => {
    const queue = Array.from({ length: 1200 }, (_, i) => item('read', [i + 1]));
    assert.equal(takeBatch(queue)?.batch.uids.length, 500);
    assert.equal(queue.length, 700);
  });
});

describe('imap action flag checks', () => {
  it('accepts a removed flag only when it is gone from the mail', () => {
    assert.deepEqual(checkFlagChange(true, new Set(['\\Flagged']), '\\Seen', false), { ok: true });
    assert.equal(checkFlagChange(true, new Set(['\\Seen']), '\\Seen', false).ok, false);
    assert.equal(checkFlagChange(false, new Set(['\\Seen']), '\\Seen', false).ok, false);
    assert.equal(checkFlagChange(false, new Set(['\\Seen']), '\\Seen', true).ok, true, 'added flags: the flag counts, not the answer');
  });
});
