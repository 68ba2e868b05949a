/**
 * m365-mail-out in the Node-RED runtime (node-red-node-test-helper) against the bed's Exchange
 * SMTP submission: sending per sign-in method, refusals with their fix, the outbox through an
 * outage and throttling, a refused recipient to Catch, and a reply that threads.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { storedMailCount } from '../../../src/smtp/outbox-files';
import { USERS } from '../../env/identity/directory';
import { builtNodes, coreNode, helper } from '../../support/helper';
import { Collector, errorTexts, mail as rawMail, statusTexts } from './imap-in-support';
import { startCountingProxy, type CountingProxy } from '../auth/helpers';
import { useNodeRedBed } from './node-red-bed';
import { waitFor } from './wait-for';

interface NodeLike {
  id: string;
  receive(msg: unknown): void;
  on(event: 'input', listener: (msg: Record<string, unknown>) => void): unknown;
}

describe('m365-mail-out in the Node-RED runtime (test bed)', function () {
  this.timeout(60000);
  const { bed, userDir } = useNodeRedBed({ userDirPrefix: 'm365-mailout-', smtp: true });
  const smtp = () => bed.smtp!;

  beforeEach(() => smtp().reset());

  async function load(kind: 'daemon' | 'cert' | 'reader', props: Record<string, unknown> = {}, accountProps: Record<string, unknown> = {}): Promise<{ node: NodeLike; out: Collector; caught: Collector }> {
    const account = bed.accountFor(kind);
    // Catch nodes only work inside a flow tab.
    await helper.load(builtNodes(), [
      { id: 'tab', type: 'tab', label: 'mail out' },
      { ...account.node('acc'), ...accountProps },
      { id: 'send', z: 'tab', type: 'm365-mail-out', account: 'acc', mailbox: USERS.alice, pace: '0', wires: [['out']], ...props },
      { id: 'out', z: 'tab', type: 'helper' },
      { id: 'catcher', z: 'tab', type: 'catch', scope: ['send'], uncaught: false, wires: [['caught']] },
      { id: 'caught', z: 'tab', type: 'helper' },
    ], { acc: account.credentials });
    return { node: helper.getNode('send') as unknown as NodeLike, out: new Collector(helper.getNode('out')), caught: new Collector(helper.getNode('caught')) };
  }

  /** Mails in a node's outbox on disk. */
  const outboxCount = (nodeId = 'send'): number => storedMailCount(path.join(userDir.path, 'm365-mail', 'outbox', nodeId));

  for (const kind of ['daemon', 'cert'] as const) {
    it(`sends with ${kind === 'daemon' ? 'a client secret' : 'a certificate'} and passes the msg on with msg.mail, no token in it`, async function () {
      const { node, out } = await load(kind);
      node.receive({ payload: 'Disk almost full', topic: 'Alert', to: USERS.bob, _msgid: 'm1', keep: 'me' });
      await out.waitForCount(1, 20000);
      const msg = out.received[0].msg;
      const meta = msg.mail as Record<string, unknown>;
      assert.equal(meta.protocol, 'smtp');
      assert.equal(meta.mailbox, USERS.alice);
      assert.deepEqual(meta.accepted, [USERS.bob]);
      assert.deepEqual(meta.rejected, []);
      assert.match(String(meta.response), /^250/);
      assert.equal(msg.keep, 'me', 'the input msg is passed on');
      assert.doesNotMatch(JSON.stringify(msg), /eyJ[\w-]{20,}/, 'no JWT in the output');
      const [accepted] = smtp().accepted;
      assert.equal(accepted.mailbox, USERS.alice);
      assert.deepEqual(accepted.to, [USERS.bob]);
      assert.equal(`<${accepted.messageId}>`, meta.messageId);
      assert.match(accepted.raw.toString(), /Subject: Alert/);
      await waitFor(() => outboxCount() === 0, 'the outbox to be empty');
    });
  }

  it('explains a token without SMTP.SendAsApp and keeps the mail in the outbox', async function () {
    const { node } = await load('reader');
    node.receive({ payload: 'x', topic: 'no permission', to: USERS.bob });
    await waitFor(() => errorTexts(node).some((e) => /SMTP\.SendAsApp/.test(e)), () => `the missing permission named (errors: ${errorTexts(node).join(' | ')})`, 20000);
    assert.ok(errorTexts(node).some((e) => /no SMTP\.SendAsApp role/.test(e)), errorTexts(node).join(' | '));
    assert.equal(outboxCount(), 1, 'the mail waits in the outbox');
    assert.equal(smtp().accepted.length, 0);
    assert.ok(statusTexts(node).some((s) => /missing-permission|permission missing/.test(s)), statusTexts(node).join(' | '));
  });

  it('explains a Graph-audience token', async function () {
    const { node } = await load('daemon', {}, { resource: 'https://graph.microsoft.com' });
    node.receive({ payload: 'x', topic: 'graph token', to: USERS.bob });
    await waitFor(() => errorTexts(node).some((e) => /Microsoft Graph/.test(e)), () => `the wrong audience named (errors: ${errorTexts(node).join(' | ')})`, 20000);
    assert.ok(errorTexts(node).some((e) => /never User\.Read or another Graph scope/.test(e)));
    assert.equal(outboxCount(), 1);
  });

  it('sends a refused recipient\'s mail to Catch with its msg and goes on with the next', async function () {
    smtp().rejectRecipient('nobody@contoso.com');
    const { node, out, caught } = await load('daemon');
    node.receive({ payload: 'a', topic: 'to nobody', to: 'nobody@contoso.com', tag: 'first' });
    node.receive({ payload: 'b', topic: 'to bob', to: USERS.bob, tag: 'second' });
    await out.waitForCount(1, 20000);
    await caught.waitForCount(1);
    assert.equal(out.received[0].msg.tag, 'second');
    const refused = caught.received[0].msg;
    assert.equal(refused.tag, 'first');
    assert.equal((refused.error as { code?: string }).code, 'mail-refused');
    assert.match(String((refused.error as { message: string }).message), /5\.1\.10/);
    await waitFor(() => outboxCount() === 0, 'the outbox to be empty');
  });

  it('gives a msg that cannot be composed back to Catch at once and sends the msgs around it in order', async function () {
    const { node, out, caught } = await load('daemon');
    node.receive({ payload: 'a', topic: 'Before', to: USERS.bob });
    node.receive({ payload: 'no recipient', topic: 'Broken' });
    node.receive({ payload: 'c', topic: 'After', to: USERS.bob });
    await out.waitForCount(2, 20000);
    assert.deepEqual(out.topics, ['Before', 'After']);
    await caught.waitForCount(1);
    assert.equal(caught.received[0].msg.topic, 'Broken');
    assert.equal((caught.received[0].msg.error as { code?: string }).code, 'config');
    assert.equal(smtp().accepted.length, 2);
    await waitFor(() => outboxCount() === 0, 'the outbox to be empty');
  });

  it('keeps 1,000 mails through an outage and delivers each exactly once when the server is back', async function () {
    this.timeout(180000);
    await smtp().down();
    const { node, out, caught } = await load('daemon');
    for (let i = 0; i < 1000; i++) node.receive({ payload: `n${i}`, topic: `Outage ${i}`, to: USERS.bob });
    await waitFor(() => outboxCount() === 1000, () => `1,000 mails in the outbox (have ${outboxCount()})`, 60000);
    await smtp().up();
    await out.waitForCount(1000, 150000);
    const accepted = smtp().accepted;
    assert.equal(accepted.length, 1000);
    assert.deepEqual(smtp().duplicateMessageIds(), []);
    const subjects = accepted.map((m) => /Subject: (.*)\r\n/.exec(m.raw.toString())?.[1]);
    assert.deepEqual(subjects, Array.from({ length: 1000 }, (_, i) => `Outage ${i}`), 'in the order taken');
    // The outage itself is reported (network, to Catch without a mail); no mail was refused.
    assert.deepEqual(caught.received.filter((r) => r.msg.mail !== undefined).map((r) => r.msg.topic), []);
    await waitFor(() => outboxCount() === 0, 'the outbox to be empty');
  });

  it('slows down when Exchange throttles (421 4.7.66) instead of failing mail', async function () {
    smtp().throttle({ messages: 3 });
    const { node, out, caught } = await load('daemon');
    for (let i = 0; i < 5; i++) node.receive({ payload: `t${i}`, topic: `Throttled ${i}`, to: USERS.bob });
    await out.waitForCount(5, 40000);
    assert.equal(caught.received.filter((r) => (r.msg.error as { code?: string }).code !== 'throttled').length, 0, 'no mail refused');
    assert.equal(smtp().accepted.length, 5);
    assert.ok(errorTexts(node).some((e) => /4\.7\.66/.test(e)), 'the throttling was reported');
  });

  it('answers a mail read by imap in: the reply threads under it', async function () {
    const account = bed.accountFor('daemon');
    await helper.load([...builtNodes(), coreNode('function/10-function.js')], [
      account.node('acc'),
      { id: 'in', type: 'm365-imap-in', account: 'acc', mailbox: USERS.alice, folder: 'INBOX', mode: 'idle', criteria: 'new', wires: [['answer', 'seen']] },
      { id: 'answer', type: 'function', func: 'if (/^Re:/.test(msg.topic)) return null;\nreturn { payload: "Thanks!", topic: "Re: " + msg.topic, to: msg.from, inReplyTo: msg.messageId, references: msg.messageId };', wires: [['send']] },
      { id: 'send', type: 'm365-mail-out', account: 'acc', mailbox: USERS.alice, pace: '0', wires: [['out']] },
      { id: 'out', type: 'helper' },
      { id: 'seen', type: 'helper' },
    ], { acc: account.credentials });
    const seen = new Collector(helper.getNode('seen'));
    const out = new Collector(helper.getNode('out'));
    await waitFor(() => statusTexts(helper.getNode('in')).some((s) => /watching/.test(s)), 'imap in to watch');
    await bed.dovecot.deliver(USERS.alice, rawMail('Order 7', { to: USERS.alice }).replace('From: Sender <sender@example.com>', `From: Alice <${USERS.alice}>`));
    await out.waitForCount(1, 20000);
    await seen.waitForCount(2, 20000);
    const [original, reply] = seen.received.map((r) => r.msg);
    assert.equal(reply.topic, 'Re: Order 7');
    const header = reply.header as Record<string, unknown>;
    assert.equal(String(header['in-reply-to']).trim(), original.messageId);
    assert.match(String(header.references), new RegExp(String(original.messageId).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  });
});

describe('m365-mail-out through the account\'s proxy (test bed)', function () {
  this.timeout(40000);
  const { bed } = useNodeRedBed({ userDirPrefix: 'm365-mailout-proxy-', smtp: true, scope: 'suite' });
  let proxy: CountingProxy;
  before(async function () {
    proxy = await startCountingProxy();
  });
  after(async function () {
    await proxy?.close();
  });

  it('opens the SMTP connection through the proxy\'s CONNECT tunnel, STARTTLS inside it', async function () {
    const smtp = bed.smtp!;
    smtp.reset();
    const account = bed.accountFor('daemon');
    await helper.load(builtNodes(), [
      { ...account.node('acc'), proxy: proxy.url },
      { id: 'send', type: 'm365-mail-out', account: 'acc', mailbox: USERS.alice, pace: '0', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ], { acc: account.credentials });
    const out = new Collector(helper.getNode('out'));
    (helper.getNode('send') as unknown as NodeLike).receive({ payload: 'via the proxy', topic: 'Proxied', to: USERS.bob });
    await out.waitForCount(1, 20000).catch((error: Error) => {
      throw new Error(`${error.message}; errors: ${errorTexts(helper.getNode('send')).join(' | ')}; tunnels: ${proxy.tunnels.join(', ')}`);
    });
    assert.ok(proxy.tunnels.includes(`${smtp.host}:${smtp.port}`), `SMTP tunnelled: ${proxy.tunnels.join(', ')}`);
    assert.equal(smtp.accepted.length, 1);
  });
});
