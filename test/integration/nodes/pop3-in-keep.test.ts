/**
 * m365-pop3-in with `disposition: keep` in the Node-RED runtime (node-red-node-test-helper)
 * against the test bed's Dovecot: each mail is emitted once across polls and a restart of the
 * flow, the mails stay on the server, and the UIDL record lives under <userDir>/m365-mail.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { builtNodes, helper } from '../../support/helper';
import {
  MAILBOX, assertExactlyOnce, attachToFlow, debugLines, errorCalls, mail, pollSummaries, pop3Flow, statusTexts, subjects,
  usePop3Bed, waitFor,
} from './pop3-in-support';

describe('m365-pop3-in keeps mail on the server and emits each once (Node-RED runtime, test bed)', function () {
  this.timeout(40000);
  // A fresh user directory per test; alice's INBOX is emptied before each.
  const { bed, second, userDir } = usePop3Bed();

  it('emits 300 mails once each over three polls of 100 and a flow restart, leaving all of them on the server', async function () {
    const firstRun = subjects('keep', 250);
    const afterRestart = subjects('keep', 50, 251);
    await bed.dovecot.deliverMany(MAILBOX, firstRun.map((s) => mail(s)));
    const { flow, credentials } = pop3Flow(bed, { props: { mode: 'trigger', disposition: 'keep', batchSize: 100 } });

    await helper.load(builtNodes(), flow, credentials);
    const run1 = attachToFlow();
    // One trigger drains the backlog batch after batch: 100 + 100 + 50, three sessions.
    run1.node.receive({ payload: 'check' });
    await run1.out.waitForCount(250, 20000);
    const summaries1 = () => pollSummaries(run1.node);
    await waitFor(() => summaries1().length >= 3, () => `three poll summaries (have: ${summaries1().join(' / ')})`);
    assert.deepEqual(summaries1().map(handedOver), [100, 100, 50], `three polls of at most 100: ${summaries1().join(' / ')}`);
    assert.ok(statusTexts(run1.node).includes('common.status.new'), `status names the new mail: ${statusTexts(run1.node).join(' | ')}`);
    const uidlsRun1 = run1.out.uidls;
    assert.equal(new Set(uidlsRun1).size, 250, 'every emitted msg has its own UIDL');
    assert.deepEqual(errorCalls(run1.node), []);

    // The UIDL record is a file in the user directory, so a restart finds it.
    const stateFiles = readdirSync(path.join(userDir.path, 'm365-mail'));
    assert.ok(stateFiles.length > 0, 'state kept under <userDir>/m365-mail');

    // Restart: same user directory, same node ids.
    await helper.unload();
    await bed.dovecot.deliverMany(MAILBOX, afterRestart.map((s) => mail(s)));
    await helper.load(builtNodes(), flow, credentials);
    const run2 = attachToFlow();
    await run2.trigger();
    await run2.out.waitForCount(50);
    // One more trigger: nothing new, and the poll says so.
    await run2.trigger();
    assert.equal(run2.out.received.length, 50, 'the empty poll emitted nothing');
    const summaries2 = pollSummaries(run2.node);
    assert.match(summaries2.at(-2) ?? '', /300 listed, 50 new, 50 handed over$/);
    assert.match(summaries2.at(-1) ?? '', /300 listed, 0 new, 0 handed over$/);

    const all = [...run1.out.topics, ...run2.out.topics];
    assertExactlyOnce(all, [...firstRun, ...afterRestart]);
    const serverUidls = await second.uidls();
    assert.equal(serverUidls.length, 300, 'keep leaves every mail on the server');
    assert.deepEqual([...uidlsRun1, ...run2.out.uidls].sort(), [...serverUidls].sort(), 'the emitted UIDLs are the server\'s');
    assert.deepEqual(errorCalls(run2.node), []);
    assert.ok(!debugLines(run2.node).some((line) => /QUIT not confirmed/.test(line)), 'every session ended with a confirmed QUIT');
  });
});

function handedOver(summary: string): number {
  return Number(/(\d+) handed over/.exec(summary)?.[1] ?? NaN);
}

