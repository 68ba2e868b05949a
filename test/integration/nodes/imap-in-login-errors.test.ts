/**
 * What a user of m365-imap-in sees when Exchange refuses the login ("AUTHENTICATE failed"): the
 * node looks at the token it used and names what does not fit — the audience it has and the one
 * Exchange wants, or the IMAP permission it lacks — and only when the token looks right points at
 * the mailbox side. Through the runtime: node.error (what a Catch node gets) and the red status.
 */
import assert from 'node:assert/strict';
import { APPS, USERS } from '../../env/identity/directory';
import { builtNodes, helper } from '../../support/helper';
import { Collector, errorTexts, imapInNode, useImapInBed, waitForStatus } from './imap-in-support';

const GRAPH = 'https://graph.microsoft.com';

interface CaughtError {
  error: { message: string; code: string };
  _error: { kind: string; fix: string; message: string };
}

describe('m365-imap-in refused logins, explained by the token (Node-RED runtime, test bed)', function () {
  this.timeout(30000);
  const { bed } = useImapInBed();

  /** Loads the account (with `account` overrides) and 'in' inside a tab with a Catch node; resolves with the first caught error. */
  async function firstCaughtError(account: Record<string, unknown>, secret?: string, props: Record<string, unknown> = {}): Promise<{ caught: CaughtError; node: unknown }> {
    const base = bed.accountFor('daemon');
    await helper.load(builtNodes(), [
      { id: 'tab', type: 'tab', label: 'errors' },
      { ...base.node('acc'), ...account },
      { ...imapInNode('in', { mode: 'poll', interval: 3600, ...props }), z: 'tab' },
      { id: 'out', z: 'tab', type: 'helper' },
      { id: 'catcher', z: 'tab', type: 'catch', scope: ['in'], uncaught: false, wires: [['caught']] },
      { id: 'caught', z: 'tab', type: 'helper' },
    ], { acc: secret ? { clientSecret: secret } : base.credentials });
    const caught = new Collector(helper.getNode('caught'));
    await caught.waitForCount(1);
    return { caught: caught.received[0].msg as unknown as CaughtError, node: helper.getNode('in') };
  }

  it('names both audiences when cloud "custom" has the Graph resource', async function () {
    const { caught, node } = await firstCaughtError({ resource: GRAPH });
    assert.equal(caught._error.kind, 'wrong-audience', caught.error.message);
    assert.equal(caught.error.code, 'wrong-audience');
    assert.match(caught._error.message, /token is for "https:\/\/graph\.microsoft\.com" \(Microsoft Graph\), but Exchange Online wants "https:\/\/outlook\.office365\.com"/);
    assert.match(caught._error.message, /AUTHENTICATE failed/, 'the server\'s own answer is kept');
    assert.match(caught._error.fix, /set its Resource \(cloud "custom"\) to https:\/\/outlook\.office365\.com/);
    assert.ok(errorTexts(node).some((text) => text.includes('but Exchange Online wants')), 'node.error carries it');
    await waitForStatus(node, /errorKind\.wrong-audience/);
  });

  it('names the IMAP permission a token lacks', async function () {
    const { caught, node } = await firstCaughtError({ clientId: APPS.daemonNoRoles.clientId }, APPS.daemonNoRoles.secret);
    assert.equal(caught._error.kind, 'missing-permission', caught.error.message);
    assert.match(caught._error.message, /no IMAP\.AccessAsApp role for IMAP/);
    assert.match(caught._error.fix, /Application permission IMAP\.AccessAsApp.*admin consent/);
    await waitForStatus(node, /errorKind\.missing-permission/);
  });

  it('points at the mailbox side, not at the token, when the token looks right', async function () {
    // The daemon's token is right for Exchange, but it has no permission on bob's mailbox.
    const { caught } = await firstCaughtError({}, undefined, { mailbox: USERS.bob });
    assert.equal(caught._error.kind, 'auth-failed', caught.error.message);
    assert.match(caught._error.message, /AUTHENTICATE failed.*token looks right \(for https:\/\/outlook\.office365\.com, with IMAP\.AccessAsApp\)/);
    assert.doesNotMatch(caught._error.message, /Microsoft Graph|no IMAP/);
    assert.match(caught._error.fix, /New-ServicePrincipal/);
    assert.match(caught._error.fix, /Add-MailboxPermission/);
    assert.doesNotMatch(caught._error.fix, /not Microsoft Graph|with admin consent/, 'no token causes when the token is right');
  });
});
