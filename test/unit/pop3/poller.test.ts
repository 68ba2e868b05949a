import assert from 'node:assert/strict';
import { classifyPop3Error } from '../../../src/pop3/errors';
import { UidlSet } from '../../../src/state/uidl-set';
import { ManualClock, networkError, PollerHarness, readAll, settle } from './poller-fakes';
import { watchUnhandledRejections } from './scripted-server';

/** A promise the test resolves by hand, to hold onMail where the test wants it. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => { open = resolve; });
  return { promise, open };
}

describe('pop3 Pop3Poller (scripted client)', () => {
  let h: PollerHarness;
  let unhandled: ReturnType<typeof watchUnhandledRejections>;

  beforeEach(async () => {
    unhandled = watchUnhandledRejections();
    h = new PollerHarness();
  });

  afterEach(async () => {
    await h.dispose();
    assert.deepEqual(unhandled.stop(), [], 'no unhandled rejection escaped');
  });

  it('hands over every new mail once, in message-number order, and ends each session with QUIT', async () => {
    const uidls = h.box.add(3);
    h.start();
    await h.poller.checkNow();
    assert.deepEqual(h.uidlsReceived(), uidls);
    assert.deepEqual(h.received.map((r) => r.msgno), [1, 2, 3]);
    assert.match(h.received[0].text, /^Subject: mail U000001/);

    const more = h.box.add(1);
    await h.poller.checkNow();
    assert.deepEqual(h.uidlsReceived(), [...uidls, ...more], 'only the new mail is emitted by the second poll');
    assert.deepEqual(h.box.commandsOf(1), ['CONNECT', 'CAPA', 'AUTH', 'UIDL', 'LIST', 'RETR 1', 'RETR 2', 'RETR 3', 'QUIT']);
    assert.deepEqual(h.box.commandsOf(2), ['CONNECT', 'CAPA', 'AUTH', 'UIDL', 'LIST', 'RETR 4', 'QUIT']);
    assert.equal(h.box.uidls.length, 4, 'keep leaves every mail on the server');
    assert.equal(h.poller.state, 'watching');
  });

  it('ends an empty poll with QUIT and schedules the next poll after the interval', async () => {
    const clock = new ManualClock();
    h.start({ mode: 'poll', intervalSec: 300, clock });
    await settle();
    assert.deepEqual(h.box.commandsOf(1), ['CONNECT', 'CAPA', 'AUTH', 'UIDL', 'QUIT']);
    assert.deepEqual(clock.waiting(), [300_000]);
    await clock.advance(299_999);
    assert.equal(h.box.sessions, 1, 'no poll before the interval is over');
    h.box.add(1);
    await clock.advance(1);
    assert.equal(h.box.sessions, 2);
    assert.equal(h.received.length, 1);
    assert.deepEqual(h.statuses.filter((s) => s.state === 'polling').map((s) => s.newCount), [0, 1]);
  });

  it('in trigger mode polls only on checkNow()', async () => {
    const clock = new ManualClock();
    h.box.add(1);
    h.start({ mode: 'trigger', intervalSec: 1, clock });
    await clock.advance(3_600_000);
    assert.equal(h.box.sessions, 0);
    await h.poller.checkNow();
    assert.equal(h.box.sessions, 1);
    assert.equal(h.received.length, 1);
  });

  it('never overlaps polls: checkNow() during a poll queues exactly one more and waits for it', async () => {
    h.box.add(2);
    const hold = gate();
    let entered = 0;
    h.onMail = async (source, meta) => {
      entered++;
      await readAll(source);
      if (meta.msgno === 1 && entered === 1) await hold.promise;
      h.received.push({ uidl: meta.uidl, msgno: meta.msgno, text: '' });
    };
    h.start();
    const first = h.poller.checkNow();
    await settle();
    assert.equal(entered, 1, 'first poll is inside onMail');
    let secondDone = false;
    const second = h.poller.checkNow().then(() => { secondDone = true; });
    const third = h.poller.checkNow();
    h.box.add(1);
    await settle();
    assert.equal(h.box.sessions, 1, 'no second session while the first runs');
    hold.open();
    await first;
    await Promise.all([second, third]);
    assert.ok(secondDone);
    assert.equal(h.box.sessions, 2, 'the two checks during the poll were served by one more poll');
    assert.equal(h.box.maxActive, 1);
    assert.deepEqual(h.uidlsReceived(), h.box.uidls);
  });

  it('drains a backlog larger than batchSize batch after batch in one session, without waiting for the interval', async () => {
    const clock = new ManualClock();
    const uidls = h.box.add(250);
    h.start({ mode: 'poll', intervalSec: 300, batchSize: 100, clock });
    await settle(400);
    assert.equal(h.received.length, 250);
    assert.deepEqual(h.uidlsReceived(), uidls);
    assert.equal(h.box.sessions, 1, 'the next batch goes on in the same session');
    const commands = h.box.commandsOf(1);
    assert.deepEqual(commands.filter((c) => !c.startsWith('RETR')), ['CONNECT', 'CAPA', 'AUTH', 'UIDL', 'LIST', 'QUIT'], 'one sign-in, one listing');
    assert.deepEqual(commands.filter((c) => c.startsWith('RETR')), uidls.map((_, i) => `RETR ${i + 1}`), 'each mail fetched once, in order');
    assert.deepEqual(h.statuses.filter((s) => s.state === 'fetching').map((s) => s.newCount), [250, 150, 50]);
    assert.deepEqual(h.statuses.filter((s) => s.state === 'polling').map((s) => s.newCount), [100, 100, 50], 'progress is reported per batch');
    assert.deepEqual(clock.waiting(), [300_000], 'after the backlog the regular interval applies again');
  });

  it('saves the UIDL record before the QUIT that ends a kept session, and on stop() between batches', async () => {
    const uidls = h.box.add(5);
    const set = h.store.set.bind(h.store);
    // A slow disk: a save takes several turns, and the log shows when it is done.
    h.store.set = async (key, value) => {
      await settle(5);
      await set(key, value);
      h.box.log.push(`saved ${(value as { uidls: string[] }).uidls.length}`);
    };
    let stopping: Promise<void> | undefined;
    let polls = 0;
    h.statusHook = (status) => {
      // After the second batch the poller sits between batches with the session kept.
      if (status.state === 'watching' && ++polls === 2) stopping = h.poller.stop();
    };
    h.start({ batchSize: 2 });
    await h.poller.checkNow();
    await settle(50);
    assert.ok(stopping, 'stop() was called between batches');
    await stopping;
    assert.deepEqual(h.uidlsReceived(), uidls.slice(0, 4));
    assert.equal(h.box.sessions, 1);
    const log = h.box.log.map((line) => line.replace(/^\d+:/, ''));
    const quit = log.indexOf('QUIT');
    assert.ok(quit > 0, 'the kept session ended with QUIT');
    assert.ok(log.slice(0, quit).includes('saved 4'), `the record of all 4 was on disk before QUIT: ${log.join(', ')}`);
    const stored = await UidlSet.open(h.store, 'pop3:test');
    assert.deepEqual([...stored.values()].sort(), uidls.slice(0, 4));
  });

  it('pause() between batches ends the kept session with QUIT before it resolves; resume() goes on where it stopped', async () => {
    const uidls = h.box.add(5);
    let pausing: Promise<void> | undefined;
    let polls = 0;
    h.statusHook = (status) => {
      if (status.state === 'watching' && ++polls === 1) pausing = h.poller.pause().then(() => { h.box.log.push('1:(pause resolved)'); });
    };
    h.start({ batchSize: 2 });
    await h.poller.checkNow();
    await settle(20);
    assert.ok(pausing, 'paused between batches');
    await pausing;
    assert.deepEqual(h.box.commandsOf(1).slice(-2), ['QUIT', '(pause resolved)'], 'the kept session QUIT before pause() resolved');
    assert.equal(h.box.active, 0);
    h.poller.resume();
    await h.poller.checkNow();
    await settle(50);
    assert.deepEqual(h.uidlsReceived(), uidls, 'every mail once, in order');
  });

  it('a checkNow() during a backlog gets a fresh session that sees mail that arrived meanwhile', async () => {
    h.box.add(4);
    let added = false;
    h.onMail = async (source, meta) => {
      await readAll(source);
      h.received.push({ uidl: meta.uidl, msgno: meta.msgno, text: '' });
      if (!added) {
        added = true;
        h.box.add(1, 'late');
        void h.poller.checkNow();
      }
    };
    h.start({ batchSize: 2 });
    await h.poller.checkNow();
    await settle(100);
    assert.deepEqual(h.uidlsReceived(), h.box.uidls, 'every mail once, in order, the late one too');
    assert.equal(h.box.sessions, 2);
    assert.deepEqual(h.box.commandsOf(1).slice(-1), ['QUIT'], 'the kept session was ended cleanly');
  });

  it('delete: goes on in the same session only while it is younger than 10 s, so deletions wait at most that long', async () => {
    const clock = new ManualClock();
    h.box.add(6);
    h.onMail = async (source, meta) => {
      await readAll(source);
      h.received.push({ uidl: meta.uidl, msgno: meta.msgno, text: '' });
      if (meta.msgno === 4) await clock.advance(10_000);
    };
    h.start({ disposition: 'delete', batchSize: 2, clock });
    await h.poller.checkNow();
    await settle(100);
    assert.deepEqual(h.uidlsReceived(), ['U000001', 'U000002', 'U000003', 'U000004', 'U000005', 'U000006']);
    assert.equal(h.box.sessions, 2, 'the session that turned 10 s old QUIT after its batch');
    assert.deepEqual(h.box.commandsOf(1).filter((c) => c.startsWith('DELE') || c === 'QUIT'), ['DELE 1', 'DELE 2', 'DELE 3', 'DELE 4', 'QUIT']);
    assert.deepEqual(h.box.commandsOf(2).slice(0, 5), ['CONNECT', 'CAPA', 'AUTH', 'UIDL', 'LIST'], 'no leftovers: the QUIT deleted them');
    assert.deepEqual(h.box.uidls, []);
  });

  it('sends the RETR of the next mail while the current one is handed over, and hands over in order', async () => {
    h.box.add(3);
    const seen: string[] = [];
    h.onMail = async (source, meta) => {
      seen.push(`onMail ${meta.msgno} (RETR ${meta.msgno + 1} sent: ${h.box.log.includes(`1:RETR ${meta.msgno + 1}`)})`);
      await readAll(source);
      h.received.push({ uidl: meta.uidl, msgno: meta.msgno, text: '' });
    };
    h.start();
    await h.poller.checkNow();
    assert.deepEqual(seen, ['onMail 1 (RETR 2 sent: true)', 'onMail 2 (RETR 3 sent: true)', 'onMail 3 (RETR 4 sent: false)']);
    assert.deepEqual(h.uidlsReceived(), h.box.uidls);
  });

  it('delete: marks a mail for deletion only after its onMail resolved, then QUITs', async () => {
    h.box.add(3);
    const events: string[] = [];
    h.onMail = async (source, meta) => {
      await readAll(source);
      events.push(`onMail ${meta.msgno} resolving (log has DELE ${meta.msgno}: ${h.box.log.includes(`1:DELE ${meta.msgno}`)})`);
      if (meta.msgno === 2) throw new Error('flow failed');
    };
    h.start({ disposition: 'delete' });
    await h.poller.checkNow();
    assert.deepEqual(events, ['onMail 1 resolving (log has DELE 1: false)', 'onMail 2 resolving (log has DELE 2: false)']);
    // RETR n+1 goes out while mail n is handed over; the RETR 3 sent ahead is read and dropped.
    assert.deepEqual(h.box.commandsOf(1), ['CONNECT', 'CAPA', 'AUTH', 'UIDL', 'LIST', 'RETR 1', 'RETR 2', 'DELE 1', 'RETR 3', 'QUIT']);
    assert.deepEqual(h.box.uidls, ['U000002', 'U000003'], 'only the mail handed over was deleted');
  });

  it('does not record a mail whose onMail rejected: retries it next poll, skips it after 3 failures', async () => {
    h.box.add(2);
    h.onMail = async (source, meta) => {
      await readAll(source);
      if (meta.uidl === 'U000001') throw new Error('flow failed');
      h.received.push({ uidl: meta.uidl, msgno: meta.msgno, text: '' });
    };
    h.start();
    await h.poller.checkNow();
    await h.poller.checkNow();
    assert.deepEqual(h.received, [], 'the failed mail holds back the rest (order is kept)');
    assert.equal(h.errors.length, 2);
    assert.match(h.errors[0].message, /U000001 \(message 1\) failed \(attempt 1 of 3\); will retry/);
    await h.poller.checkNow();
    assert.match(h.errors[2].message, /attempt 3 of 3\); skipping it/);
    assert.deepEqual(h.uidlsReceived(), ['U000002'], 'after skipping, the next mail is handed over');
    await h.poller.checkNow();
    assert.equal(h.box.log.filter((line) => line.endsWith('RETR 1')).length, 3, 'a skipped mail is not fetched again');

    await h.poller.stop();
    const stored = await UidlSet.open(h.store, 'pop3:test');
    assert.deepEqual([...stored.values()].sort(), ['U000002', 'skipped U000001']);
  });

  it('a session broken before QUIT deletes nothing, the next poll duplicates nothing and deletes the leftovers', async () => {
    h.box.add(3);
    h.box.faults.push({ command: 'retr', nth: 3, error: networkError(), breaks: true });
    const clock = new ManualClock();
    h.start({ disposition: 'delete', clock });
    await h.poller.checkNow();
    assert.deepEqual(h.uidlsReceived(), ['U000001', 'U000002']);
    assert.deepEqual(h.box.uidls, ['U000001', 'U000002', 'U000003'], 'no QUIT, so nothing was deleted');
    assert.equal(h.errors[0]?.kind, 'network');

    await clock.advance(500); // the retry after backoff
    assert.deepEqual(h.uidlsReceived(), ['U000001', 'U000002', 'U000003'], 'nothing emitted twice');
    assert.deepEqual(h.box.commandsOf(2), ['CONNECT', 'CAPA', 'AUTH', 'UIDL', 'DELE 1', 'DELE 2', 'LIST', 'RETR 3', 'DELE 3', 'QUIT']);
    assert.deepEqual(h.box.uidls, []);
  });

  it('delete: reports a refused DELE and deletes that mail on the next poll', async () => {
    h.box.add(2);
    h.box.faults.push({ command: 'dele', nth: 1, error: classifyPop3Error('DELE', '-ERR Message is locked') });
    h.start({ disposition: 'delete' });
    await h.poller.checkNow();
    assert.deepEqual(h.uidlsReceived(), ['U000001', 'U000002']);
    assert.equal(h.errors.length, 1);
    assert.equal(h.errors[0].kind, 'disposition-failed');
    assert.deepEqual(h.box.uidls, ['U000001']);
    await h.poller.checkNow();
    assert.deepEqual(h.box.commandsOf(2), ['CONNECT', 'CAPA', 'AUTH', 'UIDL', 'DELE 1', 'QUIT']);
    assert.deepEqual(h.box.uidls, []);
    assert.equal(h.received.length, 2, 'nothing emitted twice');
  });

  it('delete: a temporary server failure on DELE ends the poll without QUIT', async () => {
    h.box.add(2);
    h.box.faults.push({ command: 'dele', nth: 1, error: classifyPop3Error('DELE', '-ERR [SYS/TEMP] Server shutting down.') });
    const clock = new ManualClock();
    h.start({ disposition: 'delete', clock });
    await h.poller.checkNow();
    // The DELE answer arrives behind the RETR sent ahead, so the next mail may still be handed over.
    const first = h.uidlsReceived();
    assert.equal(first[0], 'U000001');
    assert.equal(h.errors[0]?.kind, 'server-error');
    assert.equal(h.box.commandsOf(1).includes('QUIT'), false, 'no QUIT');
    assert.equal(h.box.uidls.length, 2, 'nothing deleted');

    await clock.advance(500); // the retry after backoff
    assert.deepEqual(h.uidlsReceived(), ['U000001', 'U000002'], 'nothing emitted twice');
    assert.deepEqual(h.box.uidls, [], 'the next session deleted both');
  });

  it('a restarted poller on the same store emits nothing it emitted before', async () => {
    h.box.add(3);
    h.start();
    await h.poller.checkNow();
    await h.poller.stop();
    h.box.add(1);
    h.start();
    await h.poller.checkNow();
    assert.deepEqual(h.uidlsReceived(), h.box.uidls);
  });

  it('keep: one short listing does not make it forget mails, so they are not emitted again when listed again', async () => {
    const uidls = h.box.add(3);
    h.start();
    await h.poller.checkNow();
    h.box.hidden = new Set([uidls[1]]); // the server lists only two of the three, once
    await h.poller.checkNow();
    h.box.hidden = new Set();
    await h.poller.checkNow();
    await h.poller.stop();
    h.start(); // and after a restart
    await h.poller.checkNow();
    assert.deepEqual(h.uidlsReceived(), uidls, 'every mail emitted exactly once');
  });

  it('forgets a UIDL only once it was missing from 3 listings in a row', async () => {
    const [gone, stays] = h.box.add(2);
    h.start();
    await h.poller.checkNow();
    h.box.remove(new Set([gone]));
    const stored = async (): Promise<string[]> => {
      await h.poller.stop();
      const record = await h.store.get<{ uidls: string[] }>('pop3:test');
      h.start();
      return record?.uidls ?? [];
    };
    await h.poller.checkNow();
    await h.poller.checkNow();
    assert.deepEqual((await stored()).sort(), [gone, stays], 'still remembered after 2 listings without it');
    for (let i = 0; i < 3; i++) await h.poller.checkNow();
    assert.deepEqual(await stored(), [stays], 'forgotten after 3 listings in a row without it');
  });

  it('pause() stops polling and resume() polls again at once', async () => {
    const clock = new ManualClock();
    h.start({ mode: 'poll', intervalSec: 60, clock });
    await settle();
    await h.poller.pause();
    assert.equal(h.poller.state, 'paused');
    await clock.advance(600_000);
    assert.equal(h.box.sessions, 1);
    await h.poller.checkNow(); // resolves at once while paused
    assert.equal(h.box.sessions, 1);
    h.box.add(1);
    h.poller.resume();
    await settle();
    assert.equal(h.box.sessions, 2);
    assert.equal(h.received.length, 1);
  });

  it('stop() during a hanging onMail closes the connection within 5 s and reports nothing after "stopped"', async function () {
    this.timeout(8000);
    h.box.add(1);
    h.onMail = () => new Promise<void>(() => undefined);
    h.start();
    void h.poller.checkNow();
    await settle();
    const started = Date.now();
    await h.poller.stop();
    assert.ok(Date.now() - started < 5000, `stop took ${Date.now() - started} ms`);
    assert.equal(h.box.clients[0].closed, true);
    assert.equal(h.box.active, 0);
    assert.deepEqual(h.statuses.at(-1), { state: 'stopped' });
    assert.equal(h.errors.length, 0, 'closing on purpose is not an error');
  });

  it('stop() between mails lets the poll QUIT cleanly (deletions of handed-over mail take effect)', async () => {
    h.box.add(3);
    h.onMail = async (source, meta) => {
      await readAll(source);
      h.received.push({ uidl: meta.uidl, msgno: meta.msgno, text: '' });
      if (meta.msgno === 1) void h.poller.stop();
    };
    h.start({ disposition: 'delete' });
    await h.poller.checkNow(); // stop() releases it
    await h.poller.stop();
    assert.deepEqual(h.uidlsReceived(), ['U000001']);
    // RETR 2 was sent ahead; its answer is read and dropped so the session can QUIT.
    assert.deepEqual(h.box.commandsOf(1).slice(-4), ['RETR 1', 'RETR 2', 'DELE 1', 'QUIT']);
    assert.deepEqual(h.box.uidls, ['U000002', 'U000003']);
  });

  it('keeps working when the status callback throws', async () => {
    h.box.add(1);
    h.statusHook = () => { throw new Error('status broke'); };
    h.start();
    await h.poller.checkNow();
    assert.equal(h.received.length, 1);
    assert.ok(h.statuses.length > 0);
  });
});
