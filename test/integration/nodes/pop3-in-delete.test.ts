/**
 * m365-pop3-in with `disposition: delete` in the Node-RED runtime against the test bed's Dovecot:
 * the server loses exactly the mails the node emitted (seen from a second POP3 session), and a
 * session cut before QUIT deletes nothing and emits nothing twice.
 */
import assert from 'node:assert/strict';
import { builtNodes, helper } from '../../support/helper';
import { TcpProxy } from '../../support/tcp-proxy';
import {
  MAILBOX, assertExactlyOnce, attachToFlow, errorCalls, mail, pollSummaries, pop3Flow, statuses, subjects, usePop3Bed,
  waitFor, waitForStatus, type LoadedPop3Flow,
} from './pop3-in-support';

// Mails of 8 KiB: a batch of 100 takes a few hundred round trips, so a test that acts when the
// first mails arrived acts long before the session could reach its QUIT.
const BODY = `${'x'.repeat(76)}\r\n`.repeat(105);

describe('m365-pop3-in deletes exactly the mails it emitted (Node-RED runtime, test bed)', function () {
  this.timeout(40000);
  // A fresh user directory per test; alice's INBOX is emptied before each.
  const { bed, second } = usePop3Bed();
  let proxy: TcpProxy | undefined;

  afterEach(async function () {
    await proxy?.close();
    proxy = undefined;
  });

  it('on "pause" mid-batch ends with QUIT, and the server lost exactly the mails emitted so far; "resume" takes the rest', async function () {
    const all = subjects('del', 100);
    await bed.dovecot.deliverMany(MAILBOX, all.map((s) => mail(s, BODY)));
    const listed = await second.uidls();
    const { flow, credentials } = pop3Flow(bed, { props: { mode: 'trigger', disposition: 'delete', batchSize: 100 } });
    await helper.load(builtNodes(), flow, credentials);
    let pausing: Promise<void> | undefined;
    const run: LoadedPop3Flow = attachToFlow((_msg, count) => {
      if (count === 3) pausing = run.trigger('pause');
    });

    run.node.receive({ payload: 'check' });
    await waitFor(() => pausing !== undefined, 'the third mail');
    await pausing;
    await waitForStatus(run.node, /status\.paused/);
    const emitted = run.out.uidls;
    assert.ok(emitted.length >= 3 && emitted.length < 100, `the pause came mid-batch (emitted ${emitted.length})`);
    assert.match(pollSummaries(run.node).at(-1) ?? '', new RegExp(`100 listed, 100 new, ${emitted.length} handed over$`), 'the paused session ended with a confirmed QUIT');
    assert.deepEqual(await second.uidls(), listed.filter((uidl) => !emitted.includes(uidl)), 'the server kept exactly the mails not emitted');

    // Paused: a trigger does nothing.
    await run.trigger('check');
    assert.equal(run.out.received.length, emitted.length, 'a paused node emits nothing');

    await run.trigger('resume');
    await run.out.waitForCount(100);
    await waitFor(async () => (await second.uidls()).length === 0, 'the server to be empty');
    assertExactlyOnce(run.out.topics, all);
    assert.deepEqual([...run.out.uidls].sort(), [...listed].sort());
    assert.deepEqual(errorCalls(run.node), []);
  });

  it('a connection cut before QUIT (server kicks the session) deletes nothing, and the retry emits no duplicate', async function () {
    proxy = await TcpProxy.start({ targetHost: bed.dovecot.host, targetPort: bed.dovecot.pop3Port });
    const cutProxy = proxy;
    const all = subjects('cut', 100);
    await bed.dovecot.deliverMany(MAILBOX, all.map((s) => mail(s, BODY)));
    const listed = await second.uidls();
    const { flow, credentials } = pop3Flow(bed, {
      props: { mode: 'trigger', disposition: 'delete', batchSize: 100 },
      account: { pop3Host: cutProxy.host, pop3Port: String(cutProxy.port) },
    });
    await helper.load(builtNodes(), flow, credentials);
    let cutting: Promise<void> | undefined;
    const run: LoadedPop3Flow = attachToFlow((_msg, count) => {
      if (count !== 1) return;
      // Hold the session where it is (no QUIT can pass), then the server drops it, then the
      // client learns of it; new connections are refused until the server's view was checked.
      cutProxy.stall();
      cutProxy.refuse();
      cutting = bed.dovecot.kick(MAILBOX).then(() => { cutProxy.cutAll(); });
    });

    run.node.receive({ payload: 'check' });
    await waitFor(() => cutting !== undefined, 'the first mail');
    await cutting;
    const errorShownAt = await waitForStatus(run.node, /errorKind\.(network|server-error)/);
    const emittedBeforeCut = run.out.received.length;
    assert.ok(emittedBeforeCut < 100, `the cut came mid-batch (emitted ${emittedBeforeCut})`);
    assert.deepEqual(await second.uidls(), listed, 'no QUIT, so the server deleted nothing');
    const failure = errorCalls(run.node)[0];
    assert.ok(failure, 'the cut was reported');
    const reported = failure.msg.error as { kind: string };
    assert.ok(['network', 'server-error'].includes(reported.kind), `kind ${reported.kind}: ${failure.text}`);
    const red = statuses(run.node).find((s) => /errorKind/.test(s.text ?? ''));
    assert.deepEqual({ fill: red?.fill, shape: red?.shape }, { fill: 'red', shape: 'ring' });

    // The node retries by itself (a network error is retryable); the next session deletes the
    // mails emitted before the cut and goes on with the rest.
    cutProxy.resume();
    cutProxy.acceptAgain();
    await run.out.waitForCount(100, 20000);
    await waitFor(async () => (await second.uidls()).length === 0, 'the server to be empty');
    assertExactlyOnce(run.out.topics, all);
    await waitForStatus(run.node, /status\.new/, errorShownAt + 1);
    assert.equal(errorCalls(run.node).length, 1, 'the cut was reported once; the retry that worked reported nothing');
  });
});
