/**
 * m365-mail-out with a signed-in user (device code): the node registers with its account for
 * SMTP, so the account's token asks for SMTP.Send; without a mailbox it sends as the user who
 * signed in, once the account tells it about the sign-in. Test connection of an account that sends
 * logs in to SMTP too (and sends nothing).
 */
import assert from 'node:assert/strict';
import { USERS } from '../../env/identity/directory';
import { builtNodes, helper } from '../../support/helper';
import { approveOnDeviceLoginPage, getJson, postJson, waitFor } from './account-support';
import { Collector, statusTexts } from './imap-in-support';
import { useNodeRedBed } from './node-red-bed';

describe('m365-mail-out with a signed-in user (test bed)', function () {
  this.timeout(60000);
  const { bed, admin } = useNodeRedBed({ userDirPrefix: 'm365-mailout-delegated-', settings: { credentialSecret: 'mail-out-test-secret' }, adminApp: true, smtp: true });
  const api = (rest: string): string => `${admin.url}/m365-mail/accounts/acc${rest}`;

  it('waits for a sign-in, then sends as the signed-in user with an SMTP.Send token', async function () {
    const smtp = bed.smtp!;
    smtp.reset();
    const account = bed.accountFor('public');
    await helper.load(builtNodes(), [
      account.node('acc'),
      { id: 'send', type: 'm365-mail-out', account: 'acc', mailbox: '', pace: '30', wires: [['out']] },
      { id: 'out', type: 'helper' },
    ], { acc: {} });
    const send = helper.getNode('send') as unknown as { receive(msg: unknown): void };
    const out = new Collector(helper.getNode('out'));
    await waitFor(() => statusTexts(send).some((s) => /signed-out|not signed in/.test(s)), 'the node to wait for a sign-in');

    const started = await postJson(api('/sign-in'), {});
    assert.equal(started.status, 200, started.text);
    await approveOnDeviceLoginPage(String(started.body.verificationUri), String(started.body.userCode), USERS.alice);
    await waitFor(async () => ((await getJson(api('/sign-in'))).body.state === 'signed-in' ? true : undefined), 'the sign-in to finish');
    await waitFor(() => statusTexts(send).some((s) => /sent|queued/.test(s)), 'the node to start after the sign-in');

    send.receive({ payload: 'From the signed-in user', topic: 'Delegated', to: USERS.bob });
    await out.waitForCount(1, 20000);
    assert.equal((out.received[0].msg.mail as { mailbox: string }).mailbox, USERS.alice);
    assert.equal(smtp.accepted[0].mailbox, USERS.alice);
    const scopes = bed.identity.stats.requestedScopes.map((r) => r.scope).join(' ');
    assert.match(scopes, /SMTP\.Send/, 'the token asked for SMTP.Send');
  });

  for (const [kind, ok] of [['daemon', true], ['reader', false]] as const) {
    it(`Test connection of an account with a sender logs in to SMTP (${kind}: ${ok ? 'passes' : 'names the missing SMTP.SendAsApp'})`, async function () {
      const smtp = bed.smtp!;
      smtp.reset();
      const account = bed.accountFor(kind);
      await helper.load(builtNodes(), [
        account.node('acc'),
        { id: 'send', type: 'm365-mail-out', account: 'acc', mailbox: USERS.alice, wires: [[]] },
      ], { acc: account.credentials });
      const tested = await postJson(api('/test'), { mailbox: USERS.alice });
      const steps = tested.body.steps as Array<{ step: string; ok: boolean; detail?: string; fix?: string; kind?: string }>;
      const step = steps.find((s) => s.step === 'smtp');
      assert.ok(step, JSON.stringify(steps));
      assert.equal(step.ok, ok, JSON.stringify(step));
      if (ok) assert.match(String(step.detail), /STARTTLS, XOAUTH2/);
      else {
        assert.equal(step.kind, 'missing-permission');
        assert.match(String(step.fix), /SMTP\.SendAsApp/);
      }
      assert.equal(smtp.accepted.length, 0, 'nothing sent');
    });
  }

  it('Test connection of an account without a sender has no SMTP step', async function () {
    const account = bed.accountFor('daemon');
    await helper.load(builtNodes(), [account.node('acc')], { acc: account.credentials });
    const steps = (await postJson(api('/test'), { mailbox: USERS.alice })).body.steps as Array<{ step: string }>;
    assert.ok(!steps.some((s) => s.step === 'smtp'), JSON.stringify(steps));
  });
});
