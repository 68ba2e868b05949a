/**
 * Exactly-once delivery of m365-imap-in inside the Node-RED runtime (node-red-node-test-helper),
 * against the test bed's Dovecot: backlogs, redeploys, dropped connections, a restarted server
 * and short-lived tokens. Each test watches its own folder so the tests cannot see each other's mail.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { USERS } from '../../env/identity/directory';
import { helper } from '../../support/helper';
import { assertExactlyOnce, type Collector, errorTexts, mail, statusTexts, useImapInBed, waitFor, waitForStatus } from './imap-in-support';

describe('m365-imap-in delivers every mail exactly once (Node-RED runtime, test bed)', function () {
  this.timeout(40000);
  // A fresh user directory per test; the token lifetime a test shortens is back at 3600 after it.
  const { bed, load, start } = useImapInBed();

  /** Delivers a last mail and waits for it: everything before it has been handled by then. */
  async function sentinel(folder: string, out: Collector, timeoutMs = 10000): Promise<void> {
    await bed.dovecot.deliver(USERS.alice, mail('sentinel'), { folder });
    await waitFor(() => out.topics.includes('sentinel'), `the sentinel mail in ${folder}`, timeoutMs);
  }

  it('emits 500 mails already in the folder (criteria all) once each, in UID order, in batches of 100', async function () {
    const folder = 'Backlog';
    const subjects = Array.from({ length: 500 }, (_, i) => `backlog ${i}`);
    await bed.dovecot.deliverMany(USERS.alice, subjects.map((s) => mail(s)), { folder });
    const { out } = await load({ folder, criteria: 'all', batchSize: 100 });
    const started = Date.now();
    await out.waitForCount(500, 30000);
    this.test!.title += ` [${Date.now() - started} ms]`;
    await sentinel(folder, out);
    const uids = out.uids.slice(0, 500);
    for (let i = 1; i < uids.length; i++) assert.ok(uids[i] > uids[i - 1], `UID ${uids[i]} after ${uids[i - 1]} is strictly increasing`);
    assertExactlyOnce(out.topics, [...subjects, 'sentinel']);
    const status = await bed.dovecot.folderStatus(USERS.alice, folder);
    assert.equal(status.messages, 501, 'criteria all with disposition none leaves the mail on the server');
  });

  it('emits mail that arrived while the flow was stopped exactly once after it starts again (same node id, same user dir)', async function () {
    const folder = 'Redeploy';
    await bed.dovecot.createFolder(USERS.alice, folder);
    await bed.dovecot.deliver(USERS.alice, mail('before first start'), { folder });
    const first = await start({ folder, criteria: 'new' });
    await bed.dovecot.deliverMany(USERS.alice, ['run 1 a', 'run 1 b'].map((s) => mail(s)), { folder });
    await first.out.waitForCount(2);
    await helper.unload();

    const whileStopped = ['down a', 'down b', 'down c'];
    await bed.dovecot.deliverMany(USERS.alice, whileStopped.map((s) => mail(s)), { folder });
    const second = await start({ folder, criteria: 'new' });
    await second.out.waitForCount(3);
    await bed.dovecot.deliver(USERS.alice, mail('run 2'), { folder });
    await sentinel(folder, second.out);

    assertExactlyOnce(first.out.topics, ['run 1 a', 'run 1 b']);
    assertExactlyOnce(second.out.topics, [...whileStopped, 'run 2', 'sentinel']);
  });

  it('loses and repeats nothing when the server drops the connection in the middle of a backlog', async function () {
    const folder = 'Kicked';
    const subjects = Array.from({ length: 300 }, (_, i) => `kick ${i}`);
    await bed.dovecot.deliverMany(USERS.alice, subjects.map((s) => mail(s)), { folder });
    const { node, out } = await load({ folder, criteria: 'all', batchSize: 100 });
    await out.waitForCount(20);
    await bed.dovecot.kick(USERS.alice);
    const atKick = out.received.length;
    const statusesAtKick = statusTexts(node).length;
    assert.ok(atKick < 300, `kicked in the middle (${atKick} of 300 emitted)`);
    await waitForStatus(node, /connecting/, statusesAtKick);
    await out.waitForCount(300, 20000);
    await sentinel(folder, out);
    assertExactlyOnce(out.topics, [...subjects, 'sentinel']);
    const uids = out.uids;
    for (let i = 1; i < uids.length; i++) assert.ok(uids[i] > uids[i - 1], 'UID order survives the reconnect');
  });

  it('hands over a large mail exactly once when the connection drops while it is being downloaded', async function () {
    const folder = 'KickedLarge';
    const large = mail('large', { attachments: [{ filename: 'big.bin', content: randomBytes(20 * 1000 * 1000) }] });
    await bed.dovecot.deliver(USERS.alice, large, { folder });
    const { node, out } = await load({ folder, criteria: 'all' });
    // "1 new" is shown when the check found the mail and starts fetching it.
    await waitForStatus(node, /status\.new/);
    await bed.dovecot.kick(USERS.alice);
    assert.equal(out.received.length, 0, 'kicked before the mail was handed over');
    await out.waitForCount(1, 20000);
    await sentinel(folder, out);
    const heldAgainstTheMail = errorTexts(node).filter((t) => /Handing over|Reading the mail/.test(t));
    assert.deepEqual(heldAgainstTheMail, [], 'a broken download is not reported as a failed hand-over');
    assertExactlyOnce(out.topics, ['large', 'sentinel']);
    const attachment = (out.received[0].msg.attachments as Array<{ size: number }>)[0];
    assert.equal(attachment.size, 20 * 1000 * 1000, 'the whole attachment arrived');
  });

  it('catches up exactly once after Dovecot restarts, including mail delivered while it was down', async function () {
    const folder = 'Restarted';
    await bed.dovecot.createFolder(USERS.alice, folder);
    const { node, out } = await start({ folder, criteria: 'new' });
    await bed.dovecot.deliver(USERS.alice, mail('before restart'), { folder });
    await out.waitForCount(1);
    const statusesBefore = statusTexts(node).length;
    // A restarted master leaves running IMAP processes alone; kick them first so the restart
    // really takes the node's connection down (as a server restart at Microsoft does).
    await bed.dovecot.kick(USERS.alice);
    const restarting = bed.dovecot.restart();
    await bed.dovecot.deliverMany(USERS.alice, ['during restart a', 'during restart b'].map((s) => mail(s)), { folder });
    await restarting;
    await bed.dovecot.deliver(USERS.alice, mail('after restart'), { folder });
    const restarted = Date.now();
    await sentinel(folder, out, 20000);
    this.test!.title += ` [caught up ${Date.now() - restarted} ms after the restart]`;
    assertExactlyOnce(out.topics, ['before restart', 'during restart a', 'during restart b', 'after restart', 'sentinel']);
    assert.ok(statusTexts(node).slice(statusesBefore).some((t) => /connecting/.test(t)), 'the node showed that it reconnected');
  });

  it('renews a short-lived token while idling without losing or repeating mail', async function () {
    this.timeout(40000);
    const folder = 'ShortTokens';
    await bed.dovecot.createFolder(USERS.alice, folder);
    // Set before the flow starts: every token the node gets lives 4 s.
    bed.identity.tokenLifetimeSec = 4;
    const tokensBefore = bed.identity.stats.tokenRequests;
    const { node, out } = await start({ folder, criteria: 'new' });
    const expected: string[] = [];
    // Keep mail coming until the node has fetched at least three tokens (two renewals while idling).
    const deadline = Date.now() + 25000;
    while (bed.identity.stats.tokenRequests - tokensBefore < 3) {
      assert.ok(Date.now() < deadline, 'the node renews its token while idling');
      const subject = `short token ${expected.length}`;
      expected.push(subject);
      await bed.dovecot.deliver(USERS.alice, mail(subject), { folder });
      await waitFor(() => out.topics.includes(subject), subject);
    }
    await sentinel(folder, out);
    assertExactlyOnce(out.topics, [...expected, 'sentinel']);
    assert.deepEqual(errorTexts(node), [], 'planned renewals are not reported as errors');
  });
});
