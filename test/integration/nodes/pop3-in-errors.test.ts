/**
 * What a user of m365-pop3-in sees when the login fails: a token issued for Microsoft Graph
 * instead of Exchange Online is named as such, with the fix-it text, in node.error (so a Catch
 * node gets kind and fix) and as a red status.
 */
import assert from 'node:assert/strict';
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
    assert.match(reported.text, /Microsoft Graph, not for Exchange Online/);
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
    assert.match(error.message, /-ERR \[AUTH\] Authentication failed/, 'the server\'s own answer is kept');
    const everything = JSON.stringify([errorCalls(run.node), run.caught.received, statuses(run.node)]);
    assert.ok(!everything.includes(graphToken.split('.')[2]), 'the token is nowhere in what the user sees');

    await waitForStatus(run.node, /errorKind\.wrong-audience/);
    const red = statuses(run.node).find((s) => /errorKind\.wrong-audience/.test(s.text ?? ''));
    assert.deepEqual({ fill: red?.fill, shape: red?.shape }, { fill: 'red', shape: 'ring' });
    assert.equal(run.out.received.length, 0);
  });
});
