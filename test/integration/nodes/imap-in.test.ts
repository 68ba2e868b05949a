/**
 * m365-imap-in in the Node-RED runtime (node-red-node-test-helper) against the test bed: push
 * delivery, input control (check now, pause, resume), errors to Catch, and a quick close.
 */
import assert from 'node:assert/strict';
import { USERS } from '../../env/identity/directory';
import { builtNodes, helper } from '../../support/helper';
import { Collector, IDLING, assertExactlyOnce, errorTexts, mail, statusTexts, useImapInBed, waitFor, waitForStatus } from './imap-in-support';

describe('m365-imap-in in the Node-RED runtime (test bed)', function () {
  this.timeout(30000);
  const { bed } = useImapInBed();

  it('emits a mail delivered while idling, with the contract fields', async function () {
    const account = bed.accountFor('daemon');
    const flow = [
      account.node('acc'),
      { id: 'in', type: 'm365-imap-in', account: 'acc', mailbox: USERS.alice, folder: 'INBOX', mode: 'idle', criteria: 'new', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ];
    await helper.load(builtNodes(), flow, { acc: account.credentials });
    const out = helper.getNode('out');
    const inNode = helper.getNode('in');
    await waitForStatus(inNode, /watching/);
    const received = new Promise<Record<string, unknown>>((resolve) => out.on('input', resolve));
    const deliveredAt = Date.now();
    await bed.dovecot.deliver(USERS.alice, mail('Pushed'));
    const msg = await received;
    assert.ok(Date.now() - deliveredAt < 2000, 'emitted within 2 s of delivery');
    assert.equal(msg.topic, 'Pushed');
    assert.equal(msg.from, 'sender@example.com');
    assert.match(String(msg.payload), /Hello from the test bed/);
    const meta = msg.mail as Record<string, unknown>;
    assert.equal(meta.protocol, 'imap');
    assert.equal(meta.mailbox, USERS.alice);
    assert.equal(meta.folder, 'INBOX');
    assert.equal(typeof meta.uid, 'number');
  });

  /** IMAP sessions the server has open for alice (doveadm who). */
  async function aliceSessions(): Promise<number> {
    const out = await bed.dovecot.doveadm(['who', USERS.alice]);
    return out.split('\n').slice(1).filter((line) => line.includes('imap')).reduce((n, line) => n + Number(/\s(\d+)\s+imap/.exec(line)?.[1] ?? 1), 0);
  }

  /**
   * A flow with the node under test ('in' → 'out') and an idle-mode witness on the same folder
   * ('witness' → 'seen'). When the witness has emitted a mail, the node under test had every
   * chance to emit it too: a negative check without a fixed sleep.
   */
  async function loadWithWitness(folder: string, props: Record<string, unknown>): Promise<{ node: unknown; out: Collector; seen: Collector }> {
    const account = bed.accountFor('daemon');
    await bed.dovecot.createFolder(USERS.alice, folder);
    await helper.load(builtNodes(), [
      account.node('acc'),
      { id: 'in', type: 'm365-imap-in', account: 'acc', mailbox: USERS.alice, folder, criteria: 'new', wires: [['out']], ...props },
      { id: 'out', type: 'helper' },
      { id: 'witness', type: 'm365-imap-in', account: 'acc', mailbox: USERS.alice, folder, mode: 'idle', criteria: 'new', wires: [['seen']] },
      { id: 'seen', type: 'helper' },
    ], { acc: account.credentials });
    const node = helper.getNode('in');
    await waitFor(() => statusTexts(node).some((t) => IDLING.test(t) || /paused/.test(t)), 'the node under test to be ready');
    await waitFor(() => statusTexts(helper.getNode('witness')).some((t) => IDLING.test(t)), 'the witness to idle');
    return { node, out: new Collector(helper.getNode('out')), seen: new Collector(helper.getNode('seen')) };
  }

  it('in trigger mode emits only when a msg comes in, and copies nothing of that msg', async function () {
    const folder = 'Triggered';
    const { node, out, seen } = await loadWithWitness(folder, { mode: 'trigger' });
    await bed.dovecot.deliver(USERS.alice, mail('waits for trigger'), { folder });
    await seen.waitForCount(1);
    assert.equal(out.received.length, 0, 'nothing emitted without an input msg');
    (node as { receive(msg: unknown): void }).receive({ payload: 'go', topic: 'trigger topic', secret: 'do-not-copy' });
    await out.waitForCount(1);
    const msg = out.received[0].msg;
    assert.equal(msg.topic, 'waits for trigger');
    assert.equal(msg.secret, undefined, 'properties of the input msg are not copied');
    (node as { receive(msg: unknown): void }).receive({ payload: 'again' });
    await bed.dovecot.deliver(USERS.alice, mail('second'), { folder });
    await seen.waitForCount(2);
    (node as { receive(msg: unknown): void }).receive({});
    await out.waitForCount(2);
    assertExactlyOnce(out.topics, ['waits for trigger', 'second']);
  });

  it('stops watching on "pause" and catches up exactly once on "resume"', async function () {
    const folder = 'Paused';
    const { node, out, seen } = await loadWithWitness(folder, { mode: 'idle' });
    await bed.dovecot.deliver(USERS.alice, mail('before pause'), { folder });
    await out.waitForCount(1);
    const sessionsBefore = await aliceSessions();
    const statusesBefore = statusTexts(node).length;
    (node as { receive(msg: unknown): void }).receive({ payload: 'pause' });
    await waitForStatus(node, /paused/, statusesBefore);
    // At most: a session of an earlier test may still be on its way out too.
    await waitFor(async () => (await aliceSessions()) <= sessionsBefore - 1, 'the paused node to log out');
    await bed.dovecot.deliverMany(USERS.alice, ['while paused 1', 'while paused 2'].map((s) => mail(s)), { folder });
    await seen.waitForCount(3);
    assert.equal(out.received.length, 1, 'a paused node emits nothing');
    (node as { receive(msg: unknown): void }).receive({ payload: ' Resume ' });
    await out.waitForCount(3);
    await bed.dovecot.deliver(USERS.alice, mail('after resume'), { folder });
    await seen.waitForCount(4);
    await out.waitForCount(4);
    assertExactlyOnce(out.topics, ['before pause', 'while paused 1', 'while paused 2', 'after resume']);
    assert.deepEqual(errorTexts(node), []);
  });

  it('closes within 5 s while idling and logs out of the server', async function () {
    const account = bed.accountFor('daemon');
    await helper.load(builtNodes(), [
      account.node('acc'),
      { id: 'in', type: 'm365-imap-in', account: 'acc', mailbox: USERS.alice, folder: 'INBOX', mode: 'idle', criteria: 'new', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ], { acc: account.credentials });
    await waitForStatus(helper.getNode('in'), IDLING);
    assert.ok((await aliceSessions()) >= 1, 'the node is connected');
    const started = Date.now();
    await helper.unload();
    const took = Date.now() - started;
    this.test!.title += ` [${took} ms]`;
    assert.ok(took < 5000, `close took ${took} ms`);
    await waitFor(async () => (await aliceSessions()) === 0, 'no IMAP session left on the server', 3000);
  });

  it('reports an account problem to a Catch node with its kind and fix text, and shows it in the status', async function () {
    const account = bed.accountFor('daemon');
    // Catch nodes only work inside a flow tab.
    await helper.load(builtNodes(), [
      { id: 'tab', type: 'tab', label: 'errors' },
      account.node('acc'),
      { id: 'in', z: 'tab', type: 'm365-imap-in', account: 'acc', mailbox: USERS.alice, folder: 'INBOX', mode: 'idle', criteria: 'new', wires: [['out']] },
      { id: 'out', z: 'tab', type: 'helper' },
      { id: 'catcher', z: 'tab', type: 'catch', scope: ['in'], uncaught: false, wires: [['caught']] },
      { id: 'caught', z: 'tab', type: 'helper' },
    ], { acc: { clientSecret: 'not-the-secret' } });
    const caught = new Collector(helper.getNode('caught'));
    await caught.waitForCount(1);
    // Node-RED sets msg.error to {message, source} and keeps the node's own msg.error as msg._error.
    const caughtMsg = caught.received[0].msg as { error: { message: string; code: string; source: { id: string } }; _error: { kind: string; fix?: string } };
    assert.equal(caughtMsg.error.code, 'invalid-secret', 'msg.error.code carries the kind, for a switch node');
    assert.equal(caughtMsg.error.source.id, 'in');
    assert.equal(caughtMsg._error.kind, 'invalid-secret', `kind of: ${caughtMsg.error.message}`);
    assert.ok(caughtMsg._error.fix && /secret/i.test(caughtMsg._error.fix), 'the fix text tells what to do');
    assert.ok(caughtMsg.error.message.includes(caughtMsg._error.fix), 'the text in msg.error carries the fix too');
    assert.ok(!JSON.stringify(caught.received[0].msg).includes('not-the-secret'), 'the secret is not in the error');
    await waitForStatus(helper.getNode('in'), /errorKind\.invalid-secret/);
  });
});
