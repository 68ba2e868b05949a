import assert from 'node:assert/strict';
import { Backoff, backoffDelay, parseThrottleHint } from '../../../src/core/backoff';

describe('imap backoff', () => {
  it('doubles from the base delay with equal jitter (between half and all of the nominal delay)', () => {
    const low = { random: () => 0 };
    const high = { random: () => 0.999999 };
    assert.equal(backoffDelay(0, undefined, low), 500);
    assert.equal(backoffDelay(0, undefined, high), 1000);
    assert.equal(backoffDelay(3, undefined, low), 4000);
    assert.equal(backoffDelay(3, undefined, high), 8000);
  });

  it('caps the delay at 60 s by default', () => {
    assert.equal(backoffDelay(20, undefined, { random: () => 0.999999 }), 60_000);
    assert.equal(backoffDelay(1000, undefined, { random: () => 0 }), 30_000);
  });

  it('waits at least as long as the server asked (Retry-After), up to the hint limit', () => {
    assert.equal(backoffDelay(0, 92_415, { random: () => 0 }), 92_415);
    assert.equal(backoffDelay(0, 10 * 3600_000, { random: () => 0 }), 15 * 60_000);
    assert.equal(backoffDelay(5, 10, { random: () => 0 }), 16_000, 'a shorter hint does not shorten the backoff');
  });

  it('counts failures and starts over after reset', () => {
    const backoff = new Backoff({ random: () => 0 });
    assert.deepEqual([backoff.next(), backoff.next(), backoff.next()], [500, 1000, 2000]);
    backoff.reset();
    assert.equal(backoff.next(), 500);
    assert.equal(backoff.longest(), 30_000);
  });

  it('reads Exchange throttling hints', () => {
    assert.deepEqual(parseThrottleHint('A7 BAD Request is throttled. Suggested Backoff Time: 92415 milliseconds'), { throttled: true, retryAfterMs: 92_415 });
    assert.deepEqual(parseThrottleHint('A1 NO [THROTTLED] try later'), { throttled: true });
    assert.equal(parseThrottleHint('A1 NO AUTHENTICATE failed.'), undefined);
  });
});
