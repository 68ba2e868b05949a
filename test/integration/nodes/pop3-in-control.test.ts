/**
 * m365-pop3-in's life in the Node-RED runtime: poll mode on an empty mailbox (each poll ends with
 * QUIT and the next one comes by itself — node-red-node-email stops polling there), the status it
 * shows, and a close that ends a running session within Node-RED's limits.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { TestBed } from '../../env/testbed';
import { builtNodes, helper } from '../../support/helper';
import {
  MAILBOX, attachToFlow, errorCalls, mail, pollSummaries, pop3Flow, statuses, subjects, usePop3Bed, waitFor, waitForStatus,
} from './pop3-in-support';

/** Length of Dovecot's log now, to read only what comes after. */
function logLength(bed: TestBed): number {
  return readFileSync(bed.dovecot.logFile, 'utf8').length;
}

/** How alice's POP3 sessions ended, as Dovecot logged it from offset `from` on ("Logged out …" after QUIT). */
function sessionEnds(bed: TestBed, from: number): string[] {
  return readFileSync(bed.dovecot.logFile, 'utf8').slice(from).split('\n')
    .filter((line) => line.includes(`pop3(${MAILBOX})`) && line.includes('Disconnected'))
    .map((line) => line.slice(line.indexOf('Disconnected')));
}

/** POP3 sessions of alice open on the server now (doveadm who). */
async function openSessions(bed: TestBed): Promise<number> {
  const out = await bed.dovecot.doveadm(['who', MAILBOX]);
  return out.split('\n').slice(1).filter((line) => /\bpop3\b/.test(line)).length;
}

describe('m365-pop3-in polling, status and close (Node-RED runtime, test bed)', function () {
  this.timeout(30000);
  // A fresh user directory per test; alice's INBOX is emptied before each.
  const { bed } = usePop3Bed();

  it('in poll mode ends an empty poll with QUIT, shows "polling" and polls again by itself after the interval', async function () {
    const { flow, credentials } = pop3Flow(bed, { props: { mode: 'poll', interval: 5 } });
    const logFrom = logLength(bed);
    await helper.load(builtNodes(), flow, credentials);
    const run = attachToFlow();

    await waitFor(() => pollSummaries(run.node).length === 1, 'the first poll');
    const firstPollAt = Date.now();
    assert.match(pollSummaries(run.node)[0], /: 0 listed, 0 new, 0 handed over$/, 'an empty mailbox, and QUIT was confirmed');
    await waitForStatus(run.node, /^common\.status\.polling$/);
    const shown = statuses(run.node);
    assert.deepEqual(shown[0], { fill: 'yellow', shape: 'ring', text: 'common.status.connecting' });
    assert.deepEqual(shown.at(-1), { fill: 'green', shape: 'dot', text: 'common.status.polling' });

    // No input msg: the next poll comes by itself, about `interval` after the last one ended.
    await bed.dovecot.deliver(MAILBOX, mail('arrives between polls'));
    await run.out.waitForCount(1, 9000);
    const waited = Date.now() - firstPollAt;
    assert.ok(waited >= 4000, `the next poll waited for the interval (${waited} ms)`);
    const msg = run.out.received[0];
    assert.equal(msg.topic, 'arrives between polls');
    assert.equal(msg.from, 'sender@example.com');
    assert.match(String(msg.payload), /Hello from the POP3 test bed/);
    const meta = msg.mail as Record<string, unknown>;
    assert.deepEqual({ protocol: meta.protocol, mailbox: meta.mailbox }, { protocol: 'pop3', mailbox: MAILBOX });
    assert.equal(typeof meta.uidl, 'string');
    await waitForStatus(run.node, /^common\.status\.new$/);
    assert.deepEqual(statuses(run.node).find((s) => s.text === 'common.status.new'), { fill: 'blue', shape: 'dot', text: 'common.status.new' });
    assert.deepEqual(errorCalls(run.node), []);
    // Server side: every session (the node's two, and the second client's) ended by QUIT.
    await waitFor(() => sessionEnds(bed, logFrom).some((end) => /retr=1\//.test(end)), 'Dovecot to log the end of the second poll', 3000);
    const ends = sessionEnds(bed, logFrom);
    assert.ok(ends.length >= 2, `Dovecot logged both of the node's sessions: ${ends.join(' | ')}`);
    assert.deepEqual(ends.filter((end) => !end.startsWith('Disconnected: Logged out')), [], 'no session ended without QUIT');
  });

  it('closes within 5 s in the middle of a session, leaving no session on the server', async function () {
    await bed.dovecot.deliverMany(MAILBOX, subjects('close', 100).map((s) => mail(s, 'y'.repeat(8000))));
    const { flow, credentials } = pop3Flow(bed, { props: { mode: 'trigger', disposition: 'keep' } });
    const logFrom = logLength(bed);
    await helper.load(builtNodes(), flow, credentials);
    let closing: Promise<number> | undefined;
    const run = attachToFlow((_msg, count) => {
      if (count !== 1) return;
      const started = Date.now();
      closing = helper.unload().then(() => Date.now() - started);
    });
    run.node.receive({ payload: 'check' });
    await waitFor(() => closing !== undefined, 'the first mail');
    const took = await closing!;
    this.test!.title += ` [${took} ms]`;
    assert.ok(took < 5000, `close took ${took} ms`);
    assert.ok(run.out.received.length < 100, 'the close came mid-batch');
    await waitFor(async () => (await openSessions(bed)) === 0, 'no POP3 session left on the server', 3000);
    // The node's session (the only one that RETRieved mail) ended with QUIT.
    await waitFor(() => sessionEnds(bed, logFrom).some((end) => /^Disconnected: Logged out .*retr=[1-9]/.test(end)),
      () => `Dovecot to log the node's session as ended by QUIT (seen: ${sessionEnds(bed, logFrom).join(' | ')})`, 3000);
  });
});
