/**
 * Token life of m365-account through the Node-RED runtime: one token source per config node, so
 * many readers on several mailboxes cause one token request per token lifetime, and tokens are
 * renewed across expiry while the readers keep working.
 */
import assert from 'node:assert/strict';
import type { TestNode } from 'node-red-node-test-helper';
import { decodeJwtPayload } from '../../../src/auth/token-explainer';
import type { M365TokenProvider } from '../../../src/auth/token-provider';
import { APPS, USERS } from '../../env/identity/directory';
import { builtNodes, helper } from '../../support/helper';
import { callsOf, lastStatus, postJson, waitFor } from './account-support';
import { useNodeRedBed } from './node-red-bed';

const MAILBOXES = [USERS.alice, USERS.support];
// Flow nodes sit on a tab with a position; without x/y Node-RED treats a node as a config node.
const AT = { z: 'tab', x: 100, y: 100 };

function mail(to: string, subject: string): string {
  return [
    'From: Sender <sender@example.com>', `To: ${to}`, `Subject: ${subject}`,
    `Message-ID: <${subject.replace(/\W/g, '')}.${Date.now()}@example.com>`, 'Date: Mon, 23 Nov 2026 10:00:00 +0000',
    'Content-Type: text/plain; charset=utf-8', '', subject, '',
  ].join('\r\n');
}

interface AccountNode {
  tokenProvider(): M365TokenProvider;
}

const isWatching = (node: TestNode): boolean => /watching|status\.new/.test(lastStatus(node) ?? '');

describe('m365-account token life (Node-RED runtime, test bed)', function () {
  this.timeout(30000);
  // A fresh user directory per test; the token lifetime a test shortens is back at 3600 after it.
  const { bed, admin } = useNodeRedBed({ userDirPrefix: 'm365-tokens-', adminApp: true });

  interface Readers {
    readers: TestNode[];
    received: Array<Record<string, unknown>>;
    /** Input msgs whose check has finished (a Complete node scoped to the readers). */
    completed: Array<Record<string, unknown>>;
  }

  /** Deploys one daemon account and `count` trigger-mode readers spread over alice and support. */
  async function deployReaders(count: number): Promise<Readers> {
    const account = bed.accountFor('daemon');
    const ids = Array.from({ length: count }, (_, i) => `in${i}`);
    const flow: unknown[] = [
      { id: 'tab', type: 'tab', label: 'readers' }, account.node('acc'), { id: 'out', ...AT, type: 'helper' },
      { id: 'complete', ...AT, type: 'complete', scope: ids, wires: [['completed']] }, { id: 'completed', ...AT, type: 'helper' },
    ];
    for (const [i, id] of ids.entries()) {
      flow.push({ id, ...AT, type: 'm365-imap-in', account: 'acc', mailbox: MAILBOXES[i % MAILBOXES.length], folder: 'INBOX', mode: 'trigger', criteria: 'new', wires: [['out']] });
    }
    await helper.load(builtNodes(), flow, { acc: account.credentials });
    const readers = ids.map((id) => helper.getNode(id));
    const received: Array<Record<string, unknown>> = [];
    const completed: Array<Record<string, unknown>> = [];
    helper.getNode('out').on('input', (msg: Record<string, unknown>) => received.push(msg));
    helper.getNode('completed').on('input', (msg: Record<string, unknown>) => completed.push(msg));
    await waitFor(() => readers.every(isWatching), 'every reader to be watching', 15000);
    return { readers, received, completed };
  }

  /**
   * One round: a new mail in each mailbox, every reader triggered; resolves when every reader
   * emitted its mail and finished its check.
   */
  async function checkRound({ readers, received, completed }: Readers, label: string): Promise<void> {
    const subjects = MAILBOXES.map((box) => `${label} for ${box}`);
    await Promise.all(MAILBOXES.map((box, i) => bed.dovecot.deliver(box, mail(box, subjects[i]))));
    for (const reader of readers) reader.receive({ payload: 'check', round: label });
    // Waiting for the checks to finish before the next round matters: a trigger that arrives while
    // a check is finishing is folded into it without a NOOP, and its mail is found only by the next.
    await waitFor(() => completed.filter((m) => m.round === label).length === readers.length, `${label}: every reader to finish its check`, 10000, 20);
    // A check cut short by a token renewal reconnect reports done early; its mail follows on the new connection.
    const emitted = (): Array<Record<string, unknown>> => received.filter((m) => subjects.includes(String(m.topic)));
    await waitFor(() => emitted().length === readers.length, `${label}: a mail from each reader`, 10000, 20).catch((error: Error) => {
      // Say which readers stayed silent and what they last reported, so a rare failure can be read.
      const state = readers.map((r) => `${r.id}: ${lastStatus(r)} ${callsOf(r, 'error').map(String).join(' | ')}`).join('\n');
      throw new Error(`${error.message}; got ${emitted().length}: ${emitted().map((m) => (m.mail as { mailbox: string }).mailbox).join(', ')}\n${state}`);
    });
  }

  it('serves 20 readers × 10 checks on two mailboxes with one token request', async function () {
    bed.identity.stats.reset();
    const set = await deployReaders(20);
    const { readers, received } = set;
    const provider = (helper.getNode('acc') as unknown as AccountNode).tokenProvider();
    for (let round = 0; round < 10; round++) {
      // Besides the mail checks, every reader asks the shared provider directly, all at once.
      const direct = await Promise.all(readers.map(() => provider.getAccessToken(round % 2 ? 'pop3' : 'imap')));
      assert.equal(new Set(direct).size, 1, 'all callers got the same token');
      await checkRound(set, `Round ${round}`);
    }
    assert.equal(received.length, 200);
    const steps = (await postJson(`${admin.url}/m365-mail/accounts/acc/test`, { mailbox: USERS.support })).body.steps as Array<{ ok: boolean }>;
    assert.ok(steps.every((s) => s.ok), 'Test connection of the deployed account shares its token');
    assert.deepEqual(bed.identity.stats.byClient, { [APPS.daemon.clientId]: 1 });
    assert.equal(bed.identity.stats.tokenRequests, 1);
  });

  it('renews short-lived tokens across expiry: checks keep working with about one request per lifetime', async function () {
    const lifetimeSec = 3;
    bed.identity.tokenLifetimeSec = lifetimeSec;
    bed.identity.stats.reset();
    const set = await deployReaders(4);
    const { readers } = set;
    const provider = (helper.getNode('acc') as unknown as AccountNode).tokenProvider();
    const started = Date.now();
    let round = 0;
    // Keep using the account for a bit more than two lifetimes.
    while (Date.now() - started < 2.4 * lifetimeSec * 1000) {
      const token = await provider.getAccessToken('imap');
      const exp = Number(decodeJwtPayload(token)?.exp) * 1000;
      assert.ok(exp > Date.now(), `round ${round}: the provider never hands out an expired token`);
      await checkRound(set, `Renewal ${round++}`);
    }
    const elapsedSec = (Date.now() - started) / 1000;
    const requests = bed.identity.stats.byClient[APPS.daemon.clientId] ?? 0;
    // At least one token per lifetime is needed; renewing at ~3/4 of the lifetime allows a few more.
    const least = Math.floor(elapsedSec / lifetimeSec) + 1;
    const most = Math.ceil(elapsedSec / (lifetimeSec * 0.5)) + 1;
    assert.ok(requests >= least && requests <= most, `${requests} token requests in ${elapsedSec.toFixed(1)} s (expected ${least}..${most})`);
    assert.ok(round >= 3, `${round} rounds of checks ran`);
    for (const reader of readers) {
      // A planned reconnect for a new token waits for a running check, so no check fails with it.
      const errors = callsOf(reader, 'error').map(String);
      assert.deepEqual(errors, [], 'no reader reported a token error while tokens were renewed');
    }
  });
});
