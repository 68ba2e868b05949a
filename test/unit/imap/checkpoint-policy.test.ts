import assert from 'node:assert/strict';
import { M365MailError } from '../../../src/core/errors';
import {
  batchAfter, qualifyingUids, advanceCheckpoint, buildRecoveryQuery, buildSearchQuery, compactUidSet, parseCustomCriteria, reconcileCheckpoint,
  selectRecovered,
} from '../../../src/imap/checkpoint-policy';

describe('imap checkpoint policy', () => {
  describe('reconcileCheckpoint', () => {
    const folder = { uidValidity: 7, endUid: 41 };

    it('starts criteria "new" at the current end of the folder on first start', () => {
      const result = reconcileCheckpoint(undefined, folder, 'new');
      assert.deepEqual(result, { checkpoint: { uidValidity: 7, lastUid: 41 }, change: 'initialized' });
    });

    for (const criteria of ['all', 'unseen', 'custom'] as const) {
      it(`starts criteria "${criteria}" at UID 0 on first start, so existing mail qualifies`, () => {
        assert.deepEqual(reconcileCheckpoint(undefined, folder, criteria).checkpoint, { uidValidity: 7, lastUid: 0 });
      });
    }

    it('keeps a stored checkpoint with the same UIDVALIDITY, also when it is behind the end', () => {
      const stored = { uidValidity: 7, lastUid: 12 };
      const result = reconcileCheckpoint(stored, folder, 'new');
      assert.equal(result.change, 'kept');
      assert.equal(result.checkpoint, stored);
    });

    for (const criteria of ['new', 'all', 'unseen', 'custom'] as const) {
      it(`resumes after a UIDVALIDITY change without re-emitting old mail (criteria ${criteria})`, () => {
        const stored = { uidValidity: 3, lastUid: 900 };
        const result = reconcileCheckpoint(stored, folder, criteria);
        assert.equal(result.change, 'uidvalidity-changed');
        assert.deepEqual(result.checkpoint, { uidValidity: 7, lastUid: 41 });
        assert.deepEqual(result.previous, stored);
      });
    }

    it('treats a negative end (empty folder without UIDNEXT) as 0', () => {
      assert.equal(reconcileCheckpoint(undefined, { uidValidity: 1, endUid: -1 }, 'new').checkpoint.lastUid, 0);
    });
  });

  /** A batch from a search answer, as the fetch pass takes it. */
  const nextBatch = (uids: number[], lastUid: number, size: number) => batchAfter(qualifyingUids(uids, lastUid), lastUid, size);

  describe('batch from a search answer', () => {
    it('drops the highest message that `n:*` returns even though its UID is below n', () => {
      // UID SEARCH UID 51:* on a folder whose highest UID is 50 answers "50".
      assert.deepEqual(nextBatch([50], 50, 100), { batch: [], remaining: 0 });
    });

    it('returns qualifying UIDs ascending, each once, at most batchSize', () => {
      assert.deepEqual(nextBatch([9, 3, 7, 7, 5, 2, 11], 2, 3), { batch: [3, 5, 7], remaining: 2 });
    });

    it('drains a backlog batch by batch without gaps or repeats', () => {
      const all = Array.from({ length: 250 }, (_, i) => i + 1);
      let lastUid = 0;
      const seen: number[] = [];
      for (;;) {
        const { batch, remaining } = nextBatch(all, lastUid, 100);
        seen.push(...batch);
        if (batch.length) lastUid = batch[batch.length - 1];
        if (!remaining) break;
      }
      assert.deepEqual(seen, all);
    });

    it('takes a backlog batch by batch from the checkpoint on, also when a batch was cut short', () => {
      const backlog = qualifyingUids([12, 3, 5, 5, 9, 20, 7], 2);
      assert.deepEqual(backlog, [3, 5, 7, 9, 12, 20]);
      assert.deepEqual(batchAfter(backlog, 2, 2), { batch: [3, 5], remaining: 4 });
      // Only 3 was handed over before the connection dropped: 5 comes again.
      assert.deepEqual(batchAfter(backlog, 3, 2), { batch: [5, 7], remaining: 3 });
      assert.deepEqual(batchAfter(backlog, 10, 2), { batch: [12, 20], remaining: 0 });
      assert.deepEqual(batchAfter(backlog, 20, 2), { batch: [], remaining: 0 });
      assert.deepEqual(batchAfter([], 0, 2), { batch: [], remaining: 0 });
    });

    it('treats a batch size below 1 as 1', () => {
      assert.deepEqual(nextBatch([1, 2], 0, 0).batch, [1]);
    });
  });

  describe('search query', () => {
    it('asks for UIDs after the checkpoint', () => {
      assert.deepEqual(buildSearchQuery('new', 41), { uid: '42:*' });
      assert.deepEqual(buildSearchQuery('all', 0), { uid: '1:*' });
    });

    it('adds UNSEEN for criteria unseen', () => {
      assert.deepEqual(buildSearchQuery('unseen', 5), { seen: false, uid: '6:*' });
    });

    it('ANDs a custom search with the UID range', () => {
      assert.deepEqual(buildSearchQuery('custom', 5, { from: 'billing@example.com' }), { from: 'billing@example.com', uid: '6:*' });
    });

    it('keeps a custom UID constraint (the checkpoint is then enforced client-side)', () => {
      assert.deepEqual(buildSearchQuery('custom', 5, { uid: '1:100' }), { uid: '1:100' });
    });
  });

  describe('helpers', () => {
    it('never moves the checkpoint backwards', () => {
      assert.deepEqual(advanceCheckpoint({ uidValidity: 1, lastUid: 9 }, 10), { uidValidity: 1, lastUid: 10 });
      assert.deepEqual(advanceCheckpoint({ uidValidity: 1, lastUid: 9 }, 4), { uidValidity: 1, lastUid: 9 });
    });

    it('compacts UID sets into ranges', () => {
      assert.equal(compactUidSet([7, 1, 2, 3, 9, 10]), '1:3,7,9:10');
      assert.equal(compactUidSet([5]), '5');
    });

    it('parses customCriteria JSON and rejects non-objects with a config error', () => {
      assert.deepEqual(parseCustomCriteria('{"seen": false}'), { seen: false });
      assert.deepEqual(parseCustomCriteria(''), {});
      assert.throws(() => parseCustomCriteria('[1]'), (err: unknown) => err instanceof M365MailError && err.kind === 'config');
      assert.throws(() => parseCustomCriteria('{oops'), (err: unknown) => err instanceof M365MailError && err.kind === 'config');
    });
  });

  describe('recovery after a UIDVALIDITY change', () => {
    const savedAt = Date.UTC(2024, 4, 10, 12, 0, 30, 500);
    const dayBefore = new Date(savedAt - 24 * 60 * 60_000);

    it('searches the criteria up to the end UID, since a day before the save (SINCE has date granularity)', () => {
      assert.deepEqual(buildRecoveryQuery('all', 41, savedAt), { uid: '1:41', since: dayBefore });
      assert.deepEqual(buildRecoveryQuery('unseen', 41, savedAt), { seen: false, uid: '1:41', since: dayBefore });
      assert.deepEqual(buildRecoveryQuery('custom', 41, savedAt, { from: 'a@b.c' }), { from: 'a@b.c', uid: '1:41', since: dayBefore });
    });

    it('keeps a custom search its own uid set and its own later since', () => {
      const later = '2024-05-10';
      assert.deepEqual(buildRecoveryQuery('custom', 41, savedAt, { uid: '5:9', since: later }), { uid: '5:9', since: later });
      assert.deepEqual(buildRecoveryQuery('custom', 41, savedAt, { since: '2020-01-01' }), { uid: '1:41', since: dayBefore });
    });

    it('selects mail with an INTERNALDATE after the save, up to the end UID, ascending and once', () => {
      const at = (second: number): Date => new Date(Date.UTC(2024, 4, 10, 12, 0, second));
      const messages = [
        { uid: 9, internalDate: at(31) },
        { uid: 3, internalDate: at(10) }, // before the save: handed over or not qualifying then
        { uid: 4, internalDate: at(30) }, // the save's own second: counts as older (whole seconds)
        { uid: 7, internalDate: at(45).toISOString() },
        { uid: 7, internalDate: at(45) },
        { uid: 50, internalDate: at(50) }, // beyond the end: the normal search finds it
        { uid: 8 }, // no INTERNALDATE: kept rather than lost
      ];
      assert.deepEqual(selectRecovered(messages, savedAt, 41), [7, 8, 9]);
      assert.deepEqual(selectRecovered([], savedAt, 41), []);
    });
  });
});
