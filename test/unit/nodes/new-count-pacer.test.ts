import assert from 'node:assert/strict';
import { NewCountPacer, readerStatusUpdate } from '../../../src/nodes/shared/status';

describe('NewCountPacer (the "N new" progress while a pass fetches)', () => {
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

describe('readerStatusUpdate (what a reader node shows)', () => {
  const at = (): { pacer: NewCountPacer; tick: (ms: number) => void } => {
    let now = 0;
    return { pacer: new NewCountPacer(250, { now: () => now }), tick: (ms) => { now += ms; } };
  };

  it('paces the counts of a pass that fetches', () => {
    const { pacer, tick } = at();
    assert.deepEqual(readerStatusUpdate({ state: 'fetching', newCount: 500 }, pacer), { state: 'new', count: 500 });
    tick(50);
    assert.equal(readerStatusUpdate({ state: 'fetching', newCount: 400 }, pacer), undefined);
    tick(250);
    assert.deepEqual(readerStatusUpdate({ state: 'fetching', newCount: 100 }, pacer), { state: 'new', count: 100 });
  });

  it('shows the count a pass ends with at once, even right after a progress count', () => {
    const { pacer, tick } = at();
    readerStatusUpdate({ state: 'fetching', newCount: 37 }, pacer);
    tick(10);
    assert.deepEqual(readerStatusUpdate({ state: 'watching', newCount: 10_000 }, pacer), { state: 'new', count: 10_000 });
    tick(10);
    assert.deepEqual(readerStatusUpdate({ state: 'fetching', newCount: 5 }, pacer), { state: 'new', count: 5 }, 'the next pass shows its first count');
    tick(10);
    assert.deepEqual(readerStatusUpdate({ state: 'polling', newCount: 5 }, pacer), { state: 'new', count: 5 });
  });

  it('shows errors and other states at once', () => {
    const { pacer } = at();
    readerStatusUpdate({ state: 'fetching', newCount: 3 }, pacer);
    assert.deepEqual(readerStatusUpdate({ state: 'error', errorKind: 'network', newCount: 3 }, pacer), { state: 'error', errorKind: 'network' });
    assert.deepEqual(readerStatusUpdate({ state: 'error' }, pacer, 'timeout'), { state: 'error', errorKind: 'timeout' });
    assert.deepEqual(readerStatusUpdate({ state: 'fetching', newCount: 2 }, pacer), { state: 'new', count: 2 });
    assert.deepEqual(readerStatusUpdate({ state: 'paused' }, pacer), { state: 'paused' });
    assert.deepEqual(readerStatusUpdate({ state: 'watching' }, pacer), { state: 'watching' });
    assert.equal(readerStatusUpdate({ state: 'something-else' }, pacer), undefined);
  });
});
