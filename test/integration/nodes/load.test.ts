import assert from 'node:assert/strict';
import { builtNodes, helper } from '../../support/helper';
import { nodeRedVersion } from '../../support/node-red-package';

const ACCOUNT = {
  id: 'acc1', type: 'm365-account', name: 'Contoso', cloud: 'global', tenant: '8a1f0c52-3b7e-4d9a-9c61-2f5e7b0d4c13',
  clientId: '0b7d3c1e-2f4a-4b6c-8d9e-1a2b3c4d5e6f', authType: 'client-secret',
};

function errorsOf(node: { error: { args?: unknown[][] } }): string[] {
  return (node.error.args ?? []).map((args) => String(args[0]));
}

describe(`node registration on Node-RED ${nodeRedVersion()}`, function () {
  afterEach(async function () {
    await helper.unload();
  });

  it('registers m365-account, m365-imap-in and m365-pop3-in and creates them from a flow', async function () {
    const flow = [
      ACCOUNT,
      { id: 'imap1', type: 'm365-imap-in', account: 'acc1', mailbox: 'alice@contoso.com', folder: 'INBOX', mode: 'trigger', wires: [[]] },
      { id: 'pop1', type: 'm365-pop3-in', account: 'acc1', mailbox: 'alice@contoso.com', mode: 'trigger', wires: [[]] },
    ];
    await helper.load(builtNodes(), flow, { acc1: { clientSecret: 'not-a-real-secret' } });
    assert.equal(helper.getNode('acc1').type, 'm365-account');
    assert.equal(helper.getNode('imap1').type, 'm365-imap-in');
    assert.equal(helper.getNode('pop1').type, 'm365-pop3-in');
  });

  it('reports every invalid property of an account with a fix-it text', async function () {
    const flow = [{ ...ACCOUNT, tenant: 'common', clientId: 'not-a-guid' }];
    await helper.load(builtNodes(), flow, { acc1: {} });
    const account = helper.getNode('acc1') as unknown as { problems: Array<{ kind: string; message: string; fix: string }> };
    const messages = account.problems.map((p) => p.message).join('\n');
    assert.match(messages, /common/);
    assert.match(messages, /client ID|clientId|Client ID/i);
    assert.match(messages, /secret/i);
    assert.ok(account.problems.every((p) => p.kind === 'config' && p.fix.length > 0));
  });

  it('refuses to start a reader whose account is missing, with an error a Catch node receives', async function () {
    const flow = [{ id: 'imap1', type: 'm365-imap-in', account: 'nope', folder: 'INBOX', wires: [[]] }];
    await helper.load(builtNodes(), flow);
    const node = helper.getNode('imap1');
    const errors = (node.error.args ?? []) as unknown[][];
    assert.equal(errors.length, 1);
    assert.match(String(errors[0][0]), /account/i);
    assert.equal(typeof errors[0][1], 'object', 'node.error got a msg object, so Catch nodes see it');
  });

  it('reports invalid reader properties instead of starting', async function () {
    const flow = [
      ACCOUNT,
      { id: 'imap1', type: 'm365-imap-in', account: 'acc1', mailbox: 'not an address', folder: 'INBOX', disposition: 'move', moveTo: '', interval: '0', wires: [[]] },
      { id: 'pop1', type: 'm365-pop3-in', account: 'acc1', disposition: 'shred', attachments: 'save', attachmentDir: '', wires: [[]] },
    ];
    await helper.load(builtNodes(), flow, { acc1: { clientSecret: 'x' } });
    const imapErrors = errorsOf(helper.getNode('imap1')).join('\n');
    assert.match(imapErrors, /not an e-mail address/);
    assert.match(imapErrors, /move.*target folder/i);
    assert.match(imapErrors, /interval/);
    const popErrors = errorsOf(helper.getNode('pop1')).join('\n');
    assert.match(popErrors, /disposition "shred"/);
    assert.match(popErrors, /no folder is set/);
  });
});
