import assert from 'node:assert/strict';
import type { CopyResponseObject } from 'imapflow';
import {
  applyDisposition, checkDeleteResult, checkFlagResult, checkMoveResult, PendingDispositions, type DispositionClient,
} from '../../../src/imap/dispositions';

function fakeClient(overrides: Partial<DispositionClient>): DispositionClient & { calls: string[] } {
  const calls: string[] = [];
  const client: DispositionClient = {
    messageFlagsAdd: async () => true,
    messageMove: async () => false,
    messageDelete: async () => true,
    fetchOne: async () => false,
    search: async () => [],
    ...overrides,
  };
  const recorded = {} as DispositionClient & { calls: string[] };
  for (const key of Object.keys(client) as Array<keyof DispositionClient>) {
    (recorded as unknown as Record<string, unknown>)[key] = (...args: unknown[]) => {
      calls.push(key);
      return (client[key] as (...a: unknown[]) => unknown)(...args);
    };
  }
  recorded.calls = calls;
  return recorded;
}

describe('imap dispositions', () => {
  describe('result checks', () => {
    it('accepts a STORE only when the flag is really on the message', () => {
      assert.deepEqual(checkFlagResult(true, new Set(['\\Seen']), '\\Seen'), { ok: true });
      assert.equal(checkFlagResult(true, new Set(), '\\Seen').ok, false, 'OK answer without the flag is a failure');
      assert.equal(checkFlagResult(false, new Set(), '\\Flagged').ok, false);
    });

    it('does not retry a flag on a mail that is gone', () => {
      assert.deepEqual(checkFlagResult(true, false, '\\Seen'), { ok: false, retryable: false, reason: 'the mail is no longer in the folder' });
    });

    it('accepts a MOVE reported in COPYUID, or one after which the mail left the folder', () => {
      const withUid: CopyResponseObject = { path: 'INBOX', destination: 'Archive', uidMap: new Map([[5, 1]]) };
      const withoutUid: CopyResponseObject = { path: 'INBOX', destination: 'Archive' };
      assert.deepEqual(checkMoveResult(withUid, 5, undefined), { ok: true });
      assert.deepEqual(checkMoveResult(withoutUid, 5, false), { ok: true });
      assert.equal(checkMoveResult(withoutUid, 5, true).ok, false);
      assert.equal(checkMoveResult(false, 5, true).ok, false);
    });

    it('accepts a delete only when the mail is gone, whatever the server answered', () => {
      assert.deepEqual(checkDeleteResult(true, false), { ok: true });
      assert.deepEqual(checkDeleteResult(false, false), { ok: true });
      const refusedButReportedOk = checkDeleteResult(true, true);
      assert.equal(refusedButReportedOk.ok, false);
      assert.equal(!refusedButReportedOk.ok && refusedButReportedOk.retryable, true);
    });
  });

  describe('applyDisposition', () => {
    it('does nothing for "none"', async () => {
      const client = fakeClient({});
      assert.equal(await applyDisposition(client, 1, 'none'), undefined);
      assert.deepEqual(client.calls, []);
    });

    it('reports disposition-failed when the server says OK to \\Seen but the flag is missing', async () => {
      const client = fakeClient({ fetchOne: async () => ({ seq: 1, uid: 1, flags: new Set<string>() }) });
      const error = await applyDisposition(client, 1, 'read');
      assert.equal(error?.kind, 'disposition-failed');
      assert.equal(error?.retryable, true);
      assert.match(error!.message, /UID 1/);
    });

    it('verifies a delete with UID SEARCH and reports a mail that stayed', async () => {
      const client = fakeClient({ messageDelete: async () => true, search: async () => [9] });
      const error = await applyDisposition(client, 9, 'delete');
      assert.equal(error?.kind, 'disposition-failed');
      assert.deepEqual(client.calls, ['messageDelete', 'search']);
    });

    it('turns a thrown command error into disposition-failed', async () => {
      const client = fakeClient({ messageMove: async () => { throw Object.assign(new Error('boom'), { responseText: 'Mailbox doesn\'t exist: Nope' }); } });
      const error = await applyDisposition(client, 3, 'move', 'Nope');
      assert.equal(error?.kind, 'disposition-failed');
      assert.match(error!.message, /Nope/);
    });

    it('refuses move without a target folder', async () => {
      const error = await applyDisposition(fakeClient({}), 3, 'move');
      assert.equal(error?.retryable, false);
    });
  });

  describe('PendingDispositions', () => {
    it('gives an entry up after maxAttempts and drops entries of another UIDVALIDITY', () => {
      const pending = new PendingDispositions(10, 3);
      pending.add(5, 1);
      pending.add(6, 2);
      assert.deepEqual(pending.due(1).map((p) => p.uid), [5]);
      assert.equal(pending.size, 1);
      assert.equal(pending.failed(5), false);
      assert.equal(pending.failed(5), true);
      assert.equal(pending.size, 0);
    });

    it('stays bounded: the oldest entry falls out when full', () => {
      const pending = new PendingDispositions(2, 5);
      pending.add(1, 1);
      pending.add(2, 1);
      assert.equal(pending.add(3, 1)?.uid, 1);
      assert.deepEqual(pending.due(1).map((p) => p.uid), [2, 3]);
    });
  });
});
