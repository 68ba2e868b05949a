/**
 * What a user of m365-pop3-in sees when the login fails: a token issued for Microsoft Graph
 * instead of Exchange Online is named as such, with the fix-it text, in node.error (so a Catch
 * node gets kind and fix) and as a red status.
 */
import assert from 'node:assert/strict';
import { APPS, USERS } from '../../env/identity/directory';
import { createTokenProvider } from '../../../src/auth/token-provider';
import { decodeJwtPayload } from '../../../src/auth/token-explainer';
import { builtNodes, helper } from '../../support/helper';
import { attachToFlow, errorCalls, pop3Flow, statuses, usePop3Bed, waitForStatus } from './pop3-in-support';

const GRAPH = 'https://graph.microsoft.com';

describe('m365-pop3-in login errors (Node-RED runtime, test bed)', function () {
  this.timeout(20000);
  // A fresh user directory per test; no mail is needed, so the INBOX stays as it is.
  const { bed } = usePop3Bed({ emptyBeforeEach: false });

  it('names a Graph token as the wrong audience, with the fix-it text, in node.error, the Catch msg and a red status', async function () {
    const account = bed.accountFor('daemon');
    // The account as a user might misconfigure it: the custom cloud's resource is Graph.
    const graphAccount = { ...account.properties, resource: GRAPH };
    const graphToken = await createTokenProvider({ ...graphAccount, credentials: account.credentials }).getAccessToken('pop3');
    assert.equal(decodeJwtPayload(graphToken)?.aud, GRAPH, 'the identity server issues a Graph token for this account');

    const { flow, credentials } = pop3Flow(bed, { props: { mode: 'trigger' }, account: { resource: GRAPH } });
    await helper.load(builtNodes(), flow, credentials);
    const run = attachToFlow();
    await run.trigger('check');
    await run.caught.waitForCount(1);

    const [reported] = errorCalls(run.node);
    assert.ok(reported, 'node.error was called');
    assert.match(reported.text, /token is for "https:\/\/graph\.microsoft\.com" \(Microsoft Graph\), but Exchange Online wants "https:\/\/outlook\.office365\.com"/);
    assert.match(reported.text, /outlook\.office365\.com\/\.default/, 'the log line carries the fix-it text');
    const error = reported.msg.error as { kind: string; fix: string; message: string };
    assert.equal(error.kind, 'wrong-audience', error.message);
    // The Catch node gets Node-RED's msg.error {message, code, source}, the kind as its code;
    // the node's own details are msg._error.
    const caught = run.caught.received[0] as { error: { message: string; code: string; source: { id: string } }; _error: typeof error };
    assert.equal(caught.error.source.id, 'in');
    assert.equal(caught.error.code, 'wrong-audience');
    assert.equal(caught.error.message, reported.text);
    assert.deepEqual(caught._error, error);
    assert.match(error.fix, /never User\.Read or another Graph scope/);
    assert.match(error.fix, /set its Resource \(cloud "custom"\) to https:\/\/outlook\.office365\.com/);
    assert.match(error.message, /-ERR \[AUTH\] Authentication failed/, 'the server\'s own answer is kept');
    const everything = JSON.stringify([errorCalls(run.node), run.caught.received, statuses(run.node)]);
    assert.ok(!everything.includes(graphToken.split('.')[2]), 'the token is nowhere in what the user sees');

    await waitForStatus(run.node, /errorKind\.wrong-audience/);
    const red = statuses(run.node).find((s) => /errorKind\.wrong-audience/.test(s.text ?? ''));
    assert.deepEqual({ fill: red?.fill, shape: red?.shape }, { fill: 'red', shape: 'ring' });
    assert.equal(run.out.received.length, 0);
  });

  it('names the POP permission a token lacks, in node.error and a red status', async function () {
    const { flow } = pop3Flow(bed, { props: { mode: 'trigger' }, account: { clientId: APPS.daemonNoRoles.clientId } });
    await helper.load(builtNodes(), flow, { acc: { clientSecret: APPS.daemonNoRoles.secret } });
    const run = attachToFlow();
    await run.trigger('check');
    await run.caught.waitForCount(1);
    const [reported] = errorCalls(run.node);
    const error = reported?.msg.error as { kind: string; fix: string; message: string };
    assert.equal(error.kind, 'missing-permission', error.message);
    assert.match(error.message, /no POP\.AccessAsApp role for POP/);
    assert.match(error.message, /-ERR \[AUTH\] Authentication failed/, 'the server\'s own answer is kept');
    assert.match(error.fix, /Application permission POP\.AccessAsApp.*admin consent/);
    await waitForStatus(run.node, /errorKind\.missing-permission/);
  });

  it('points at the mailbox side, not at the token, when the token looks right', async function () {
    // The daemon's token is right for Exchange, but it has no permission on bob's mailbox.
    const { flow, credentials } = pop3Flow(bed, { props: { mode: 'trigger', mailbox: USERS.bob } });
    await helper.load(builtNodes(), flow, credentials);
    const run = attachToFlow();
    await run.trigger('check');
    await run.caught.waitForCount(1);
    const error = errorCalls(run.node)[0]?.msg.error as { kind: string; fix: string; message: string };
    assert.equal(error.kind, 'auth-failed', error.message);
    assert.match(error.message, /token looks right \(for https:\/\/outlook\.office365\.com, with POP\.AccessAsApp\)/);
    assert.match(error.fix, /PopEnabled/);
    assert.match(error.fix, /New-ServicePrincipal.*Add-MailboxPermission/);
    assert.doesNotMatch(error.fix, /not Microsoft Graph|with admin consent/, 'no token causes when the token is right');
  });
});
