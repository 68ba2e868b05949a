import assert from 'node:assert/strict';
import { M365MailError } from '../../../src/core/errors';
import { classifyPop3Error } from '../../../src/pop3/errors';
import { ManualClock, networkError, PollerHarness, settle } from './poller-fakes';
import { watchUnhandledRejections } from './scripted-server';

const AUTH_REFUSED = '-ERR Authentication failure: unknown user name or bad password.';

describe('pop3 Pop3Poller failures and retries (scripted client)', () => {
  let h: PollerHarness;
  let clock: ManualClock;
  let unhandled: ReturnType<typeof watchUnhandledRejections>;

  beforeEach(() => {
    unhandled = watchUnhandledRejections();
    h = new PollerHarness();
    clock = new ManualClock();
  });

  afterEach(async () => {
    await h.dispose();
    assert.deepEqual(unhandled.stop(), [], 'no unhandled rejection escaped');
  });

  it('retries network failures with exponential backoff and reports the failure once', async () => {
    h.box.add(1);
    h.box.faults.push({ command: 'connect', nth: 1, error: networkError(), breaks: true });
    h.box.faults.push({ command: 'uidl', nth: 1, error: networkError(), breaks: true });
    h.start({ mode: 'poll', intervalSec: 300, clock });
    await settle();
    assert.equal(h.box.sessions, 1);
    assert.deepEqual(clock.waiting(), [500], 'first retry after half the base delay (jitter 0)');
    assert.equal(h.poller.state, 'error');
    await clock.advance(499);
    assert.equal(h.box.sessions, 1);
    await clock.advance(1);
    assert.equal(h.box.sessions, 2);
    assert.deepEqual(clock.waiting(), [1000], 'the delay doubles');
    await clock.advance(1000);
    assert.equal(h.box.sessions, 3);
    assert.equal(h.received.length, 1);
    assert.deepEqual(clock.waiting(), [300_000], 'after a good poll the interval applies again');
    assert.equal(h.errors.length, 1, 'the same kind of failure is reported once until a poll succeeds');
    assert.equal(h.errors[0].kind, 'network');
    assert.equal(h.box.active, 0, 'every broken session was closed');
    const states = h.statuses.map((s) => s.state);
    assert.deepEqual(states.slice(-4), ['error', 'connecting', 'fetching', 'polling']);
  });

  it('honours a throttling delay from the server; checkNow() does not cut it short', async () => {
    const throttled = classifyPop3Error('UIDL', '-ERR Request is throttled. Suggested Backoff Time: 92415 milliseconds');
    h.box.faults.push({ command: 'uidl', nth: 1, error: throttled });
    h.box.add(1);
    h.start({ mode: 'poll', intervalSec: 300, clock });
    await settle();
    assert.equal(h.errors[0].kind, 'throttled');
    assert.equal(h.errors[0].retryAfterMs, 92_415);
    assert.deepEqual(clock.waiting(), [92_415]);
    let checked = false;
    const check = h.poller.checkNow().then(() => { checked = true; });
    await settle();
    assert.equal(h.box.sessions, 1, 'no poll while the server asked to wait');
    assert.equal(checked, false);
    await clock.advance(92_415);
    await check;
    assert.equal(h.box.sessions, 2);
    assert.equal(h.received.length, 1);
  });

  it('retries a refused login once with a force-refreshed token', async () => {
    h.box.add(1);
    h.box.faults.push({ command: 'auth', nth: 1, error: classifyPop3Error('AUTH', AUTH_REFUSED) });
    h.start();
    await h.poller.checkNow();
    assert.deepEqual(h.tokens.requests, [{ forceRefresh: false }, { forceRefresh: true }]);
    assert.equal(h.box.tokens.at(-1), 'token-2', 'the second login used the new token');
    assert.equal(h.received.length, 1);
    assert.deepEqual(h.errors, []);
  });

  it('reports a login refused twice as auth-failed with a fix text, and waits for the next trigger', async () => {
    h.box.add(1);
    h.box.faults.push({ command: 'auth', error: classifyPop3Error('AUTH', AUTH_REFUSED) });
    h.start({ clock, appOnly: true });
    await h.poller.checkNow();
    assert.equal(h.errors.length, 1);
    const error = h.errors[0];
    assert.ok(error instanceof M365MailError);
    assert.equal(error.kind, 'auth-failed');
    assert.match(error.fix, /POP\.AccessAsApp/);
    assert.match(error.fix, /New-ServicePrincipal/, 'app-only accounts get the service principal steps');
    assert.doesNotMatch(`${error.message} ${error.fix}`, /token-\d/, 'no token in the error');
    assert.equal(h.tokens.requests.length, 2);
    assert.deepEqual(clock.waiting(), [], 'trigger mode: no retry until the next trigger');
    assert.equal(h.poller.state, 'error');
    assert.equal(h.statuses.at(-1)?.errorKind, 'auth-failed');
    assert.equal(h.box.active, 0);
  });

  it('in poll mode retries a non-retryable failure only at the regular interval', async () => {
    h.tokens.failWith = new M365MailError('Client secret is wrong (AADSTS7000215).', { kind: 'invalid-secret', fix: 'Enter the secret value.' });
    h.start({ mode: 'poll', intervalSec: 300, clock });
    await settle();
    assert.equal(h.errors[0]?.kind, 'invalid-secret');
    assert.equal(h.box.sessions, 0, 'no connection without a token');
    assert.deepEqual(clock.waiting(), [300_000]);
  });

  it('uses a fresh token for the next poll after the server said the token expired', async () => {
    h.box.add(2);
    const expired = classifyPop3Error('RETR', '-ERR AccessTokenExpired');
    h.box.faults.push({ command: 'retr', nth: 2, error: expired, breaks: true });
    h.start({ clock });
    await h.poller.checkNow();
    assert.equal(h.errors[0]?.kind, 'token-expired');
    assert.equal(h.received.length, 1);
    await clock.advance(500);
    assert.equal(h.received.length, 2);
    assert.deepEqual(h.tokens.requests, [{ forceRefresh: false }, { forceRefresh: true }]);
  });

  it('reports a failed save of the UIDL record, hands over nothing twice and saves it later', async () => {
    h.box.add(1);
    const realSet = h.store.set.bind(h.store);
    let failSaves = true;
    h.store.set = async (key, value) => {
      if (failSaves) throw new M365MailError('Cannot save checkpoint (ENOSPC)', { kind: 'storage', fix: 'Free disk space.' });
      return realSet(key, value);
    };
    h.start();
    await h.poller.checkNow();
    assert.equal(h.errors[0]?.kind, 'storage');
    assert.equal(h.box.log.filter((line) => line.endsWith('QUIT')).length, 1, 'the session still ends with QUIT');
    await h.poller.checkNow();
    assert.equal(h.received.length, 1, 'the in-memory record still prevents a duplicate');
    failSaves = false;
    h.box.add(1);
    await h.poller.checkNow();
    assert.deepEqual(JSON.parse(h.store.records.get('pop3:test') ?? '{}'), { uidls: h.box.uidls });
  });
});
