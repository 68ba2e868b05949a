import assert from 'node:assert/strict';
import { nextWindow, type BacklogPlan } from '../../../src/imap/stream-window';

const LIMITS = { afterLarge: 4, maxSetLength: 8000 };

describe('imap stream windows', () => {
  describe('a backlog without large mails', () => {
    it('streams the whole backlog with one FETCH', () => {
      const uids = Array.from({ length: 20_000 }, (_, i) => i + 1);
      assert.deepEqual(nextWindow({ uidValidity: 1, uids, large: [] }, 0, LIMITS), { range: '1:20000', expected: uids, endUid: 20_000, last: true, count: 20_000 });
      assert.equal(nextWindow({ uidValidity: 1, uids, large: [] }, 20_000, LIMITS), undefined);
    });
  });

  describe('a backlog with large mails', () => {
    const uids = Array.from({ length: 1000 }, (_, i) => i + 1);

    it('ends a window after the first large mail and the few that may wait behind it, not before', () => {
      const plan: BacklogPlan = { uidValidity: 1, uids, large: [50, 52, 900] };
      assert.equal(nextWindow(plan, 0, LIMITS)!.range, '1:54');
      assert.equal(nextWindow(plan, 54, LIMITS)!.range, '55:904');
      const last = nextWindow(plan, 904, LIMITS)!;
      assert.equal(last.range, '905:1000');
      assert.equal(last.last, true);
    });

    it('ends the window at the large mail when nothing may wait behind it', () => {
      assert.equal(nextWindow({ uidValidity: 1, uids, large: [7] }, 0, { ...LIMITS, afterLarge: 0 })!.range, '1:7');
    });
  });

  describe('every UID after the checkpoint up to where SELECT said the folder ends', () => {
    it('streams the whole range with one FETCH, no list of UIDs needed', () => {
      assert.deepEqual(nextWindow({ uidValidity: 1, throughUid: 20_000, large: [] }, 0, LIMITS), { range: '1:20000', endUid: 20_000, last: true, count: 20_000 });
      assert.equal(nextWindow({ uidValidity: 1, throughUid: 20_000, large: [] }, 20_000, LIMITS), undefined);
    });

    it('ends a window after the first large mail and the few that may wait behind it', () => {
      const plan: BacklogPlan = { uidValidity: 1, throughUid: 1000, large: [50, 998] };
      assert.equal(nextWindow(plan, 0, LIMITS)!.range, '1:54');
      const last = nextWindow(plan, 54, LIMITS)!;
      assert.deepEqual([last.range, last.last], ['55:1000', true], 'the end of the folder comes before the hold limit');
    });
  });

  describe('scattered UIDs (unseen, custom, expunged mail)', () => {
    const uids = Array.from({ length: 1000 }, (_, i) => i + 1).filter((uid) => uid % 10 !== 0);

    it('takes the whole list in one window when nothing limits it', () => {
      const window = nextWindow({ uidValidity: 1, uids, large: [] }, 0, LIMITS)!;
      assert.equal(window.expected?.length, uids.length);
      assert.equal(window.last, true);
      assert.equal(window.count, uids.length);
      assert.equal(window.endUid, 999);
      assert.match(window.range, /^1:9,11:19,.*,991:999$/);
    });

    it('takes at most maxMails per window, from the checkpoint on', () => {
      const first = nextWindow({ uidValidity: 1, uids, large: [] }, 0, { ...LIMITS, maxMails: 100 })!;
      assert.equal(first.expected?.length, 100);
      assert.equal(first.last, false);
      const second = nextWindow({ uidValidity: 1, uids, large: [] }, first.endUid!, { ...LIMITS, maxMails: 100 })!;
      assert.equal(second.expected?.[0], uids[100]);
      assert.equal(nextWindow({ uidValidity: 1, uids, large: [] }, 999, LIMITS), undefined);
    });

    it('ends a window afterLarge mails after the first large one', () => {
      const window = nextWindow({ uidValidity: 1, uids: [3, 5, 8, 13, 21, 34, 55, 89], large: [8, 21] }, 3, { ...LIMITS, afterLarge: 2 })!;
      assert.deepEqual(window.expected, [5, 8, 13, 21]);
      assert.equal(window.range, '5,8,13,21');
    });

    it('keeps the UID set of one FETCH within maxSetLength, however scattered the UIDs', () => {
      const scattered = Array.from({ length: 20_000 }, (_, i) => 100_000 + 2 * i);
      let lastUid = 0;
      let windows = 0;
      let total = 0;
      for (;;) {
        const window = nextWindow({ uidValidity: 1, uids: scattered, large: [] }, lastUid, { ...LIMITS, maxSetLength: 8000 });
        if (!window) break;
        assert.ok(window.range.length <= 8000, `set of ${window.range.length} characters`);
        windows++;
        total += window.expected!.length;
        lastUid = window.endUid!;
      }
      assert.equal(total, scattered.length, 'every UID in exactly one window');
      assert.ok(windows > 1 && windows < 20, `${windows} windows`);
      const contiguous = Array.from({ length: 20_000 }, (_, i) => i + 1);
      assert.equal(nextWindow({ uidValidity: 1, uids: contiguous, large: [] }, 0, LIMITS)!.range, '1:20000');
    });
  });
});
