import assert from 'node:assert/strict';
import { NewCountPacer } from '../../../src/nodes/shared/status';

describe('NewCountPacer (the "N new" status while a backlog is handed over)', () => {
  it('lets the first count through, then at most one per interval', () => {
    let now = 1_000;
    const pacer = new NewCountPacer(250, { now: () => now });
    const shown: number[] = [];
    for (let step = 0; step < 20; step++) {
      if (pacer.countDue()) shown.push(now);
      now += 50;
    }
    // 20 counts over 1,000 ms: 0, 250, 500, 750 ms
    assert.deepEqual(shown, [1_000, 1_250, 1_500, 1_750]);
  });

  it('shows the next count at once after another state was shown', () => {
    let now = 0;
    const pacer = new NewCountPacer(250, { now: () => now });
    assert.equal(pacer.countDue(), true);
    now += 10;
    assert.equal(pacer.countDue(), false);
    pacer.otherState();
    assert.equal(pacer.countDue(), true, 'a new pass starts with its count');
  });
});
