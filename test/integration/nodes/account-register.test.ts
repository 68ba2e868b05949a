/**
 * The register of m365-account (src/nodes/m365-account/users.ts) through the Node-RED runtime:
 * readers register with their protocol, the scopes the identity server is asked for are those of
 * the registered protocols (never SMTP.Send for an account that only reads), and a sign-in or
 * sign-out made in the editor is pushed to a waiting delegated reader.
 */
import assert from 'node:assert/strict';
import { USERS } from '../../env/identity/directory';
import { builtNodes, helper } from '../../support/helper';
import { getJson, lastStatus, postJson, waitFor } from './account-support';
import { useNodeRedBed } from './node-red-bed';

interface RegisteredUser { id: string; protocols: readonly string[] }
interface AccountUnderTest {
  users: { protocols(): string[]; signInChanged(account: unknown): void; size: number };
  register(user: RegisteredUser): void;
  deregister(user: RegisteredUser, done?: () => void): void;
  tokenProvider(): { getAccount(): Promise<unknown>; getAccessToken(protocol: string): Promise<string> };
}

const SMTP_SEND = /SMTP\.Send/;

describe('m365-account register: protocols, scopes and pushed sign-ins (Node-RED runtime, test bed)', function () {
  this.timeout(20000);
  const { bed, admin } = useNodeRedBed({ userDirPrefix: 'm365-register-', settings: { credentialSecret: 'register-test-secret' }, adminApp: true });
  const api = (rest: string): string => `${admin.url}/m365-mail/accounts/acc${rest}`;
  const account = (): AccountUnderTest => helper.getNode('acc') as unknown as AccountUnderTest;

  async function signInWithDeviceCode(): Promise<void> {
    const started = await postJson(api('/sign-in'), {});
    assert.equal(started.body.state, 'pending', started.text);
    bed.identity.approveDeviceCode(String(started.body.userCode), USERS.alice);
    await waitFor(async () => (await getJson(api('/sign-in'))).body.state === 'signed-in', 'the sign-in to finish');
  }

  const readerFlow = (acc: object): unknown[] => [
    acc,
    { id: 'in', type: 'm365-imap-in', account: 'acc', mailbox: '', folder: 'INBOX', mode: 'idle', criteria: 'new', wires: [[]] },
  ];

  it('pushes a sign-in to a waiting delegated reader, which starts at once, and a sign-out, which stops it', async function () {
    await helper.load(builtNodes(), readerFlow(bed.accountFor('public').node('acc')), { acc: {} });
    const reader = helper.getNode('in');
    await waitFor(() => lastStatus(reader) === 'common.status.signed-out', 'the reader to wait for a sign-in');
    assert.deepEqual(account().users.protocols(), ['imap'], 'the reader registered for IMAP');

    // Record every look-up of the signed-in user from now on, and whether the push had come.
    const provider = account().tokenProvider();
    const lookUps: boolean[] = [];
    let pushed = false;
    const getAccount = provider.getAccount.bind(provider);
    provider.getAccount = () => { lookUps.push(pushed); return getAccount(); };
    const users = account().users;
    const signInChanged = users.signInChanged.bind(users);
    users.signInChanged = (signedIn: unknown) => { pushed = true; signInChanged(signedIn); };

    await signInWithDeviceCode();
    await waitFor(() => lastStatus(reader) === 'common.status.watching', 'the reader to start after the pushed sign-in');
    assert.ok(pushed, 'the sign-in was pushed through the register');
    // While it waited nobody asked for the user (the editor's status requests answer from the
    // pending sign-in): the reader asked only after the push (so did the editor's status request).
    assert.ok(lookUps.length >= 1);
    assert.deepEqual(lookUps.filter((afterPush) => !afterPush), [], 'no look-up before the push: the reader does not poll');

    await postJson(api('/sign-out'), {});
    await waitFor(() => lastStatus(reader) === 'common.status.signed-out', 'the reader to stop after the pushed sign-out');
  });

  it('asks a reader-only delegated account for IMAP scopes and never for SMTP.Send', async function () {
    await helper.load(builtNodes(), readerFlow(bed.accountFor('public').node('acc')), { acc: {} });
    const reader = helper.getNode('in');
    await waitFor(() => lastStatus(reader) === 'common.status.signed-out', 'the reader to wait for a sign-in');
    bed.identity.stats.reset();
    await signInWithDeviceCode();
    await waitFor(() => lastStatus(reader) === 'common.status.watching', 'the reader to watch');

    const asked = bed.identity.stats.requestedScopes;
    assert.ok(asked.some((r) => r.endpoint === 'devicecode' && /IMAP\.AccessAsUser\.All/.test(r.scope)), JSON.stringify(asked));
    assert.ok(asked.some((r) => r.endpoint === 'token'), 'tokens were requested');
    assert.deepEqual(asked.filter((r) => SMTP_SEND.test(r.scope)), [], 'no request names SMTP.Send');
  });

  it('asks for SMTP.Send once a node that sends registered, in the sign-in and in its token', async function () {
    await helper.load(builtNodes(), readerFlow(bed.accountFor('public').node('acc')), { acc: {} });
    await waitFor(() => lastStatus(helper.getNode('in')) === 'common.status.signed-out', 'the reader to wait for a sign-in');
    const sender: RegisteredUser = { id: 'sender', protocols: ['smtp'] };
    account().register(sender);
    assert.deepEqual(account().users.protocols(), ['imap', 'smtp']);
    bed.identity.stats.reset();

    await signInWithDeviceCode();
    const signIn = bed.identity.stats.requestedScopes.find((r) => r.endpoint === 'devicecode');
    assert.match(signIn?.scope ?? '', SMTP_SEND, 'the user is asked to consent to sending');
    assert.match(signIn?.scope ?? '', /IMAP\.AccessAsUser\.All/);

    bed.identity.stats.reset();
    await account().tokenProvider().getAccessToken('smtp');
    const tokenScopes = bed.identity.stats.requestedScopes.filter((r) => r.endpoint === 'token').map((r) => r.scope);
    assert.ok(tokenScopes.every((scope) => SMTP_SEND.test(scope)), JSON.stringify(tokenScopes));

    // Deregistered, the account asks for what is left.
    await new Promise<void>((resolve) => account().deregister(sender, resolve));
    assert.deepEqual(account().users.protocols(), ['imap']);
  });

  it('asks a sending-only delegated account for SMTP.Send alone, and pushes the sign-in to the waiting mail out', async function () {
    await helper.load(builtNodes(), [
      bed.accountFor('public').node('acc'),
      { id: 'send', type: 'm365-mail-out', account: 'acc', mailbox: '', pace: '0', wires: [[]] },
    ], { acc: {} });
    const sender = helper.getNode('send');
    await waitFor(() => lastStatus(sender) === 'common.status.signed-out', 'mail out to wait for a sign-in');
    assert.deepEqual(account().users.protocols(), ['smtp']);
    bed.identity.stats.reset();
    await signInWithDeviceCode();
    await waitFor(() => lastStatus(sender) !== 'common.status.signed-out', 'mail out to start after the pushed sign-in');
    const signIn = bed.identity.stats.requestedScopes.find((r) => r.endpoint === 'devicecode');
    assert.match(signIn?.scope ?? '', SMTP_SEND);
    assert.doesNotMatch(signIn?.scope ?? '', /IMAP|POP/, 'a sending-only account asks for no reading permission');
  });

  it('asks an app-only account for <resource>/.default whatever its nodes use', async function () {
    const daemon = bed.accountFor('daemon');
    await helper.load(builtNodes(), [daemon.node('acc')], { acc: daemon.credentials });
    account().register({ id: 'sender', protocols: ['smtp'] });
    bed.identity.stats.reset();
    await account().tokenProvider().getAccessToken('smtp');
    assert.deepEqual(bed.identity.stats.requestedScopes.map((r) => r.scope), ['https://outlook.office365.com/.default']);
  });
});
