/**
 * Secrets never leak: a flow with a client-secret, a client-certificate and a device-code account
 * runs at trace log level through sign-in, token use, a refused token, a wrong secret and Test
 * connection; every log call, every node status/error/warning, every output message and every
 * admin answer is searched for the client secret, the private key, every token the identity server
 * issued and every refresh token. None may appear.
 */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import type { M365TokenProvider } from '../../../src/auth/token-provider';
import { APPS, USERS } from '../../env/identity/directory';
import { builtNodes, helper } from '../../support/helper';
import { approveOnDeviceLoginPage, callsOf, getJson, leaksIn, postJson, useIssuedSecrets, waitFor } from './account-support';
import { useNodeRedBed } from './node-red-bed';

const AT = { z: 'tab', x: 100, y: 100 };
const WRONG_SECRET = 'Wrong8Q~this-is-a-typed-but-wrong-secret-value';

interface SpiedMethod {
  getCalls(): Array<{ thisValue: unknown; args: unknown[] }>;
}

describe('m365-account never shows a secret (trace level, Node-RED runtime, test bed)', function () {
  this.timeout(30000);
  // One user directory for the suite's single test, the runtime logging at trace level.
  const { bed, admin } = useNodeRedBed({
    userDirPrefix: 'm365-secrets-', scope: 'suite', adminApp: true,
    settings: { credentialSecret: 'secrets-test-credential-secret', logging: { console: { level: 'trace' } } },
  });
  const issued = useIssuedSecrets(bed);
  after(function () {
    // Trace logging ends with this suite: later suites in this process run with the console log off.
    helper.settings({ logging: { console: { level: 'off' } } });
  });

  it('keeps client secret, private key, access, ID and refresh tokens out of logs, statuses, messages and answers', async function () {
    const daemon = bed.accountFor('daemon');
    const cert = bed.accountFor('cert');
    const delegated = bed.accountFor('public');
    const readers = ['secretReader', 'certReader', 'refusedReader'];
    const flow = [
      { id: 'tab', type: 'tab', label: 'secrets' },
      daemon.node('accSecret'), cert.node('accCert'), delegated.node('accUser'),
      { id: 'secretReader', ...AT, type: 'm365-imap-in', account: 'accSecret', mailbox: USERS.alice, mode: 'trigger', criteria: 'new', wires: [['out']] },
      { id: 'certReader', ...AT, type: 'm365-imap-in', account: 'accCert', mailbox: USERS.alice, mode: 'trigger', criteria: 'new', wires: [['out']] },
      // The daemon app has no permission on bob's mailbox: the server refuses its token.
      { id: 'refusedReader', ...AT, type: 'm365-imap-in', account: 'accSecret', mailbox: USERS.bob, mode: 'trigger', criteria: 'new', wires: [['out']] },
      { id: 'complete', ...AT, type: 'complete', scope: readers, wires: [['completed']] },
      { id: 'out', ...AT, type: 'helper' }, { id: 'completed', ...AT, type: 'helper' },
    ];
    await helper.load(builtNodes(), flow, { accSecret: daemon.credentials, accCert: cert.credentials, accUser: {} });
    const answers: string[] = [];
    const messages: unknown[] = [];
    const completed: unknown[] = [];
    helper.getNode('out').on('input', (msg: unknown) => messages.push(msg));
    helper.getNode('completed').on('input', (msg: unknown) => completed.push(msg));

    // App-only readers deliver; the refused one reports its error.
    const [secretReader, certReader, refusedReader] = readers.map((id) => helper.getNode(id));
    await waitFor(() => [secretReader, certReader].every((n) => callsOf(n, 'status').some((s) => /watching/.test(String((s as { text?: string }).text)))), 'the app-only readers to watch');
    await waitFor(() => callsOf(refusedReader, 'error').length > 0, 'the refused reader to report');
    await bed.dovecot.deliver(USERS.alice, 'From: a@example.com\r\nTo: alice@contoso.com\r\nSubject: Secret check\r\n\r\nHello\r\n');
    secretReader.receive({ payload: 'check' });
    certReader.receive({ payload: 'check' });
    await waitFor(() => messages.length === 2 && completed.length === 2, 'both app-only readers to emit');

    // Test connection: deployed, a wrong typed secret, the placeholder.
    const test = async (id: string, body: unknown): Promise<void> => { answers.push((await postJson(`${admin.url}/m365-mail/accounts/${id}/test`, body)).text); };
    await test('accSecret', { mailbox: USERS.alice });
    await test('accSecret', { mailbox: USERS.alice, settings: { ...daemon.properties, clientSecret: WRONG_SECRET } });
    await test('accCert', { mailbox: USERS.alice, settings: { ...cert.properties, privateKey: '__PWRD__' } });
    assert.match(answers[1], /invalid-secret/);

    // Delegated: device code sign-in, a token, a forced renewal (rotates the refresh token), Test connection.
    const started = await postJson(`${admin.url}/m365-mail/accounts/accUser/sign-in`, {});
    answers.push(started.text);
    await approveOnDeviceLoginPage(String(started.body.verificationUri), String(started.body.userCode), USERS.alice);
    await waitFor(async () => {
      const status = await getJson(`${admin.url}/m365-mail/accounts/accUser/sign-in`);
      answers.push(status.text);
      return status.body.state === 'signed-in';
    }, 'the device code sign-in', 10000, 100);
    const userProvider = (helper.getNode('accUser') as unknown as { tokenProvider(): M365TokenProvider }).tokenProvider();
    await userProvider.getAccessToken('imap');
    bed.identity.stats.reset();
    await userProvider.getAccessToken('imap', { forceRefresh: true });
    assert.equal(bed.identity.stats.byGrant.refresh_token, 1, 'a refresh token was used');
    await test('accUser', { mailbox: '' });
    answers.push((await postJson(`${admin.url}/m365-mail/accounts/accUser/sign-out`, {})).text);

    // Everything the runtime let out of the nodes.
    const logCalls = helper.log().args.map((args) => inspect(args, { depth: 8, breakLength: Infinity }));
    const nodeCalls = (['status', 'error', 'warn', 'log', 'debug', 'trace', 'send'] as const).flatMap((method) => {
      const spy = (secretReader as unknown as Record<string, SpiedMethod | undefined>)[method];
      return (spy?.getCalls?.() ?? []).map((call) => inspect(call.args, { depth: 8, breakLength: Infinity }));
    });
    const output = messages.map((m) => inspect(m, { depth: 8, breakLength: Infinity }));
    const everything = [...logCalls, ...nodeCalls, ...output, ...answers].join('\n');

    assert.ok(logCalls.some((line) => /MSAL: .*Verbose/.test(line)), 'MSAL logged at verbose level (trace)');
    assert.ok(callsOf(refusedReader, 'error').length > 0, 'a refused token was reported');
    assert.ok(issued.tokens.length >= 4 && issued.refreshTokens.length >= 2, `tokens issued: ${issued.tokens.length}, refresh: ${issued.refreshTokens.length}`);
    assert.deepEqual(leaksIn(everything, {
      'client secret': [APPS.daemon.secret],
      'typed wrong secret': [WRONG_SECRET],
      'private key': [cert.credentials.privateKey ?? ''],
      'access/ID token': issued.tokens,
      'refresh token': issued.refreshTokens,
    }), []);
  });
});
