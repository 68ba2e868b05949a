import assert from 'node:assert/strict';
import { M365MailError } from '../../../src/core/errors';
import { settlesWithin, withTimeout, failAfter } from '../../../src/core/timeout';
import { EngineShell, handOverError, RetryBudget } from '../../../src/engine/shell';

interface Status {
  state: 'running' | 'paused' | 'stopped';
}

describe('engine/shell', function () {
  it('goes new → running ⇄ paused → stopped, and nothing leads out of stopped', async function () {
    const statuses: string[] = [];
    const shell = new EngineShell<Status>({ onStatus: (s) => statuses.push(s.state) });
    assert.equal(shell.started, false);
    assert.equal(shell.accepting, false, 'checkNow() has nothing to wait for before start');
    assert.equal(shell.start(() => shell.waitForWake(), () => undefined), true);
    assert.equal(shell.start(() => Promise.resolve(), () => undefined), false, 'starts once');
    assert.equal(shell.accepting, true);
    assert.equal(shell.pause(), true);
    assert.equal(shell.pause(), false);
    assert.equal(shell.halted, true);
    assert.equal(shell.resume(), true);
    assert.equal(shell.resume(), false);
    let closed = 0;
    await Promise.all([shell.stop(async () => { closed++; }), shell.stop(async () => { closed++; })]);
    assert.equal(closed, 1, 'the engine closes once');
    assert.equal(shell.resume(), false);
    assert.equal(shell.pause(), false);
    assert.equal(shell.stopped, true);
    shell.report.status({ state: 'running' });
    assert.deepEqual(statuses, ['stopped'], 'only the final status after stop');
  });

  it('serves checkNow() callers by the check that starts after them; pause releases them all', async function () {
    const shell = new EngineShell<Status>({});
    shell.start(() => new Promise(() => undefined), () => undefined);
    const served: string[] = [];
    void shell.waitForCheck().then(() => served.push('first'));
    shell.beginCheck();
    void shell.waitForCheck().then(() => served.push('second'));
    shell.endCheck();
    await settlesWithin(Promise.resolve(), 0);
    assert.deepEqual(served, ['first'], 'a caller that came during a check waits for the next one');
    shell.pause();
    await settlesWithin(Promise.resolve(), 0);
    assert.deepEqual(served, ['first', 'second']);
  });

  it('sleep() ends early on a lifecycle change, and on a check request only when told so', async function () {
    const shell = new EngineShell<Status>({});
    let woke = false;
    void shell.sleep(60_000, false).then(() => { woke = true; });
    shell.wake('check');
    await settlesWithin(Promise.resolve(), 0);
    assert.equal(woke, false, 'a held wait ignores check requests');
    shell.wake('control');
    await settlesWithin(Promise.resolve(), 0);
    assert.equal(woke, true);
    await shell.stop(async () => undefined);
  });

  it('RetryBudget gives up after the last allowed attempt and starts over when forgotten', function () {
    const budget = new RetryBudget<string>(3);
    assert.deepEqual(budget.fail('a'), { attempts: 1, giveUp: false });
    assert.deepEqual(budget.fail('a'), { attempts: 2, giveUp: false });
    budget.forget('b');
    assert.deepEqual(budget.fail('a'), { attempts: 3, giveUp: true });
    assert.deepEqual(budget.fail('a'), { attempts: 1, giveUp: false }, 'a given-up key starts over');
    budget.forget('a');
    assert.deepEqual(budget.fail('a'), { attempts: 1, giveUp: false });
  });

  it('handOverError keeps the kind and fix of the cause and says what happens next', function () {
    const cause = new M365MailError('disk full', { kind: 'storage', fix: 'Free some space.' });
    const retry = handOverError('mail UID 7', { attempts: 1, giveUp: false }, 3, 'will retry', cause);
    assert.equal(retry.message, 'Handing over mail UID 7 failed (attempt 1 of 3); will retry: disk full');
    assert.equal(retry.kind, 'storage');
    assert.equal(retry.fix, 'Free some space.');
    assert.equal(retry.retryable, true);
    const skip = handOverError('mail UID 7', { attempts: 3, giveUp: true }, 3, 'will retry', new Error('boom'));
    assert.equal(skip.message, 'Handing over mail UID 7 failed (attempt 3 of 3); skipping it: boom');
    assert.equal(skip.kind, 'unknown');
    assert.equal(skip.retryable, false);
  });
});

describe('core/timeout', function () {
  it('withTimeout gives the value, or the fallback when the promise is too slow', async function () {
    assert.equal(await withTimeout(Promise.resolve('done'), 1_000, 'late'), 'done');
    assert.equal(await withTimeout(new Promise<string>(() => undefined), 5, 'late'), 'late');
  });

  it('failAfter rejects with the timeout error; settlesWithin never rejects', async function () {
    await assert.rejects(failAfter(new Promise(() => undefined), 5, () => new Error('too slow')), /too slow/);
    assert.equal(await settlesWithin(Promise.reject(new Error('x')), 1_000), true);
    assert.equal(await settlesWithin(new Promise(() => undefined), 5), false);
  });
});
