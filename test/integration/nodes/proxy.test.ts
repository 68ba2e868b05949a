/**
 * The account's `proxy` carries everything: token requests (MSAL's network client), the IMAP
 * connection (imapflow) and the POP3 connection (our CONNECT tunnel) — checked with a CONNECT proxy
 * that records each tunnel, through the real Node-RED runtime.
 */
import assert from 'node:assert/strict';
import { USERS } from '../../env/identity/directory';
import { builtNodes, helper } from '../../support/helper';
import { startCountingProxy, type CountingProxy } from '../auth/helpers';
import { useNodeRedBed } from './node-red-bed';

function mail(subject: string): string {
  return [`From: sender@example.com`, `To: ${USERS.alice}`, `Subject: ${subject}`, `Message-ID: <${subject}@example.com>`,
    'Date: Mon, 23 Nov 2026 10:00:00 +0000', 'Content-Type: text/plain; charset=utf-8', '', 'via the proxy', ''].join('\r\n');
}

function nextMessage(node: { once(event: 'input', listener: (msg: Record<string, unknown>) => void): unknown }, timeoutMs = 15000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message within ${timeoutMs} ms`)), timeoutMs);
    node.once('input', (msg) => {
      clearTimeout(timer);
      resolve(msg);
    });
  });
}

describe('m365-account proxy in the Node-RED runtime (test bed)', function () {
  this.timeout(40000);
  // One user directory for the suite's single test.
  const { bed } = useNodeRedBed({ userDirPrefix: 'm365-proxy-', scope: 'suite' });
  let proxy: CountingProxy;

  before(async function () {
    proxy = await startCountingProxy();
  });
  after(async function () {
    await proxy?.close();
  });

  it('sends token requests, IMAP and POP3 through the configured proxy', async function () {
    const account = bed.accountFor('daemon');
    await bed.dovecot.deliver(USERS.alice, mail('proxied'));
    const flow = [
      { ...account.node('acc'), proxy: proxy.url },
      { id: 'imap', type: 'm365-imap-in', account: 'acc', mailbox: USERS.alice, folder: 'INBOX', mode: 'trigger', criteria: 'all', wires: [['imapOut']] },
      { id: 'pop', type: 'm365-pop3-in', account: 'acc', mailbox: USERS.alice, mode: 'trigger', wires: [['popOut']] },
      { id: 'imapOut', type: 'helper' },
      { id: 'popOut', type: 'helper' },
    ];
    await helper.load(builtNodes(), flow, { acc: account.credentials });
    const viaImap = nextMessage(helper.getNode('imapOut'));
    helper.getNode('imap').receive({ payload: 'check' });
    assert.equal((await viaImap).topic, 'proxied');
    const viaPop = nextMessage(helper.getNode('popOut'));
    helper.getNode('pop').receive({ payload: 'check' });
    assert.equal((await viaPop).topic, 'proxied');

    const identity = new URL(bed.identity.url);
    assert.ok(proxy.tunnels.includes(`${identity.hostname}:${identity.port}`), `token requests tunnelled: ${proxy.tunnels.join(', ')}`);
    assert.ok(proxy.tunnels.includes(`${bed.dovecot.host}:${bed.dovecot.imapPort}`), `IMAP tunnelled: ${proxy.tunnels.join(', ')}`);
    assert.ok(proxy.tunnels.includes(`${bed.dovecot.host}:${bed.dovecot.pop3Port}`), `POP3 tunnelled: ${proxy.tunnels.join(', ')}`);
  });
});
