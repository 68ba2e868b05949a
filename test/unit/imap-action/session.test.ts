import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ImapFlowOptions } from 'imapflow';
import { M365MailError } from '../../../src/core/errors';
import type { ImapClient } from '../../../src/imap/connection';
import { ActionSession, type SessionState, type UidOutcome } from '../../../src/imap-action';
import { ManualClock, settle } from '../pop3/poller-fakes';

/** A JWT-shaped token that expires `inMs` after `now` (only its exp claim matters). */
function tokenExpiring(now: number, inMs: number, n: number): string {
  const payload = Buffer.from(JSON.stringify({ exp: Math.floor((now + inMs) / 1000), n })).toString('base64url');
  return `h.${payload}.s`;
}

class FakeImap extends EventEmitter {
  usable = false;
  closed = false;
  constructor(readonly token: string) { super(); }
  async connect(): Promise<void> { this.usable = true; }
  async logout(): Promise<void> { this.usable = false; }
  close(): void { this.usable = false; this.closed = true; this.emit('close'); }
}

function setup(options: { apply?: (client: FakeImap) => Promise<UidOutcome[]>; idleMs?: number } = {}) {
  const clock = new ManualClock();
  const clients: FakeImap[] = [];
  let tokens = 0;
  const states: SessionState[] = [];
  const session = new ActionSession({
    clock,
    idleMs: options.idleMs ?? 30_000,
    backoff: { random: () => 0 },
    connection: {
      host: 'imap.test', port: 993, mailbox: 'alice@contoso.com',
      tokenSource: { getAccessToken: async () => tokenExpiring(clock.now(), 600_000, ++tokens) },
      clientFactory: (flowOptions: ImapFlowOptions) => {
        const client = new FakeImap(String(flowOptions.auth?.accessToken));
        clients.push(client);
        return client as unknown as ImapClient;
      },
    },
    apply: async (client, batch) => (options.apply ? options.apply(client as unknown as FakeImap) : batch.uids.map((uid): UidOutcome => ({ uid, result: 'done' }))),
  });
  session.onState((state) => states.push(state));
  const act = (uids: number[]): Promise<UidOutcome[]> => new Promise((resolve) => session.submit({ owner: 'n1', batch: { folder: 'INBOX', action: 'read', uids }, settle: resolve }));
  return { clock, clients, session, states, act, tokens: () => tokens };
}

describe('imap action session', () => {
  it('opens on demand, reuses the connection, and closes after the idle time', async () => {
    const { clock, clients, session, act } = setup();
    assert.equal(clients.length, 0, 'nothing opened before there is work');
    await act([1]);
    await act([2]);
    assert.equal(clients.length, 1);
    await clock.advance(30_000);
    assert.ok(clients[0].closed, 'closed after 30 s without work');
    await act([3]);
    assert.equal(clients.length, 2, 'opened again on demand');
    await session.stop();
  });

  it('reconnects with a fresh token before the token expires', async () => {
    const { clock, clients, session, act, tokens } = setup({ idleMs: 3_600_000 });
    await act([1]);
    // 10 min token, 5 min margin: due after three quarters of its life.
    await clock.advance(450_000 - 1);
    assert.ok(!clients[0].closed);
    await act([2]);
    assert.equal(clients.length, 1, 'still the first connection');
    await clock.advance(1);
    assert.ok(clients[0].closed, 'the connection with the old token is closed when renewal is due');
    await act([3]);
    assert.equal(clients.length, 2);
    assert.equal(tokens(), 2);
    assert.notEqual(clients[1].token, clients[0].token);
    await session.stop();
  });

  it('keeps the actions through a dropped connection and applies them after a backoff', async () => {
    let calls = 0;
    const { clock, clients, session, states, act } = setup({
      apply: async () => {
        calls++;
        if (calls === 1) throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
        return [{ uid: 7, result: 'done' }];
      },
    });
    const outcome = act([7]);
    await settle();
    const error = states.find((s) => s.state === 'error');
    assert.ok(error && error.state === 'error' && error.retryInMs !== undefined, 'the error is reported with its retry delay');
    assert.ok(clients[0].closed, 'the broken connection is dropped');
    await clock.advance(error.retryInMs);
    assert.deepEqual(await outcome, [{ uid: 7, result: 'done' }]);
    assert.equal(clients.length, 2);
    await session.stop();
  });

  it('holds the actions while a delegated account waits for a sign-in, and goes on as soon as one is made', async () => {
    let signedIn = false;
    const { session, states, act } = setup({
      apply: async () => {
        if (!signedIn) throw new M365MailError('nobody signed in', { kind: 'sign-in-required', retryable: false });
        return [{ uid: 3, result: 'done' }];
      },
    });
    const outcome = act([3]);
    await settle();
    assert.ok(states.some((s) => s.state === 'error' && s.error.kind === 'sign-in-required' && s.retryInMs !== undefined), 'waiting, not failed');
    signedIn = true;
    session.retryNow();
    assert.deepEqual(await outcome, [{ uid: 3, result: 'done' }]);
    await session.stop();
  });

  it('fails the waiting actions at once when retrying cannot help (a refused login)', async () => {
    const { session, act } = setup({
      apply: async () => { throw new M365MailError('refused', { kind: 'auth-failed', retryable: false }); },
    });
    const [outcome] = await act([9]);
    assert.equal(outcome.result, 'failed');
    assert.equal(outcome.result === 'failed' && outcome.error.kind, 'auth-failed');
    await session.stop();
  });
});
