import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { M365MailError } from '../../../src/core/errors';
import type { AccessTokenSource } from '../../../src/auth/token-source';
import { Pop3Poller, type Pop3MailMeta, type Pop3PollerOptions, type Pop3PollerStatus } from '../../../src/pop3/poller';
import { CheckpointStore } from '../../../src/state/checkpoint-store';
import { USERS } from '../../env/identity/directory';
import { startTestBed, type TestBed } from '../../env/testbed';
import { daemonTokenSource, emptyMailbox, rawMail, readSource, serverUidls, subjectOf } from './bed';

interface Received {
  subject: string;
  meta: Pop3MailMeta;
}

/** One poller plus everything it reported, with waits that wake on its events. */
class Harness {
  readonly received: Received[] = [];
  readonly statuses: Pop3PollerStatus[] = [];
  readonly errors: M365MailError[] = [];
  readonly poller: Pop3Poller;
  private readonly wakers = new Set<() => void>();

  constructor(options: Pop3PollerOptions, private readonly beforeHandOver?: (meta: Pop3MailMeta) => Promise<void>) {
    this.poller = new Pop3Poller(options, {
      onMail: async (source, meta) => {
        const subject = subjectOf(await readSource(source));
        await this.beforeHandOver?.(meta);
        this.received.push({ subject, meta });
        this.wake();
      },
      onStatus: (status) => { this.statuses.push(status); this.wake(); },
      onError: (error) => { this.errors.push(error); this.wake(); },
    });
  }

  subjects(): string[] {
    return this.received.map((r) => r.subject);
  }

  /** Resolves as soon as `predicate` holds after some poller event; rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.wakers.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.wakers.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${this.received.length} mails, `
          + `last status ${JSON.stringify(this.statuses.at(-1))}, errors ${this.errors.map((e) => e.message).join(' | ')}`));
      }, timeoutMs);
      this.wakers.add(check);
    });
  }

  private wake(): void {
    for (const waker of [...this.wakers]) waker();
  }
}

describe('pop3 Pop3Poller against Dovecot with XOAUTH2 and a real MSAL token', function () {
  this.timeout(30_000);
  const mailbox = USERS.alice;
  let bed: TestBed;
  let tokens: AccessTokenSource & { requests: number };
  let dir: string;
  let store: CheckpointStore;
  const harnesses: Harness[] = [];

  before(async function () {
    this.timeout(30_000);
    bed = await startTestBed();
    tokens = daemonTokenSource(bed);
  });

  beforeEach(async () => {
    await emptyMailbox(bed, tokens, mailbox);
    dir = await mkdtemp(path.join(tmpdir(), 'pop3-poller-it-'));
    store = new CheckpointStore(dir);
  });

  afterEach(async () => {
    await Promise.all(harnesses.splice(0).map((h) => h.poller.stop()));
    await rm(dir, { recursive: true, force: true });
  });

  after(async () => {
    await bed?.stop();
  });

  function poll(options: Partial<Pop3PollerOptions> = {}, beforeHandOver?: (meta: Pop3MailMeta) => Promise<void>): Harness {
    const harness = new Harness({
      host: bed.dovecot.host,
      port: bed.dovecot.pop3Port,
      mailbox,
      tokenSource: tokens,
      tls: { ca: bed.ca.caCertPem },
      appOnly: true,
      uidlStore: store,
      uidlKey: `pop3:${mailbox}`,
      mode: 'trigger',
      backoff: { baseMs: 100, capMs: 1000 },
      ...options,
    }, beforeHandOver);
    harnesses.push(harness);
    harness.poller.start();
    return harness;
  }

  it('keep: emits 300 mails once each over three polls of 100, and a restarted poller emits only new mail', async () => {
    const subjects = Array.from({ length: 300 }, (_, i) => `bulk-${String(i).padStart(3, '0')}`);
    await bed.dovecot.deliverMany(mailbox, subjects.map((s) => rawMail(s)));
    const requestsBefore = tokens.requests;
    const first = poll({ mode: 'poll', intervalSec: 300, batchSize: 100 });
    await first.waitFor(() => first.received.length === 300 && first.poller.state === 'polling', 20_000, '300 mails');
    assert.deepEqual([...first.subjects()].sort(), subjects, 'every mail once');
    assert.deepEqual(first.received.map((r) => r.meta.msgno), Array.from({ length: 300 }, (_, i) => i + 1), 'in message-number order');
    assert.deepEqual(first.statuses.filter((s) => s.state === 'fetching').map((s) => s.newCount), [300, 200, 100], 'three batches');
    assert.equal(tokens.requests - requestsBefore, 1, 'in one session (one sign-in)');
    assert.deepEqual(first.errors, []);
    assert.equal((await serverUidls(bed, tokens, mailbox)).length, 300, 'keep leaves every mail on the server');

    await first.poller.stop();
    await bed.dovecot.deliverMany(mailbox, [rawMail('after-restart-1'), rawMail('after-restart-2')]);
    const second = poll();
    await second.poller.checkNow();
    assert.deepEqual(second.subjects(), ['after-restart-1', 'after-restart-2'], 'the stored UIDLs survive the restart');
    await second.poller.checkNow();
    assert.equal(second.received.length, 2, 'a second poll finds nothing new');
  });

  it('delete: removes exactly the mails it emitted', async () => {
    await bed.dovecot.deliverMany(mailbox, ['d-1', 'd-2', 'd-3', 'd-4', 'd-5'].map((s) => rawMail(s)));
    const all = await serverUidls(bed, tokens, mailbox);
    let pausing: Promise<void> | undefined;
    // Batches of 2 in one session; a pause while mail 3 is handed over ends it with QUIT.
    const h = poll({ disposition: 'delete', batchSize: 2 }, async (meta) => {
      if (meta.msgno === 3) pausing = h.poller.pause();
    });
    await h.poller.checkNow();
    await h.waitFor(() => pausing !== undefined, 10_000, 'the pause');
    await pausing;
    assert.deepEqual(h.subjects(), ['d-1', 'd-2', 'd-3']);
    assert.deepEqual(h.received.map((r) => r.meta.uidl), all.slice(0, 3));
    assert.deepEqual(await serverUidls(bed, tokens, mailbox), all.slice(3), 'what is left is exactly what was not emitted');

    h.poller.resume();
    await h.poller.checkNow();
    assert.deepEqual(h.subjects(), ['d-1', 'd-2', 'd-3', 'd-4', 'd-5']);
    assert.deepEqual(await serverUidls(bed, tokens, mailbox), [], 'the session that drained the rest QUIT and deleted it');
  });

  it('a session cut before QUIT deletes nothing, and the next poll emits no duplicate', async () => {
    await bed.dovecot.deliverMany(mailbox, ['c-1', 'c-2', 'c-3'].map((s) => rawMail(s)));
    const all = await serverUidls(bed, tokens, mailbox);
    let cut = false;
    const h = poll({ disposition: 'delete' }, async (meta) => {
      // The flow takes mail 2; meanwhile the server drops every session of the mailbox.
      if (meta.msgno === 2 && !cut) {
        cut = true;
        await bed.dovecot.kick(mailbox);
      }
    });
    await h.poller.checkNow();
    // Mail 3 was sent ahead (pipelined RETR) and may have arrived whole before the cut: then it is
    // handed over too. Never anything after a gap, never anything twice.
    const first = h.subjects();
    assert.deepEqual(first, ['c-1', 'c-2', 'c-3'].slice(0, first.length));
    assert.ok(first.length >= 2, first.join(', '));
    assert.deepEqual(await serverUidls(bed, tokens, mailbox), all, 'no QUIT, so the server deleted nothing');

    await h.poller.checkNow();
    assert.deepEqual(h.subjects(), ['c-1', 'c-2', 'c-3'], 'no mail emitted twice');
    assert.deepEqual(await serverUidls(bed, tokens, mailbox), [], 'the next clean session deleted all three');
    // The server may answer the DELE with "-ERR [SYS/TEMP] Server shutting down" or just hang up.
    assert.equal(h.errors.length, 1, h.errors.map((e) => e.message).join(' | '));
    assert.ok(['network', 'server-error'].includes(h.errors[0].kind), h.errors[0].message);
  });

  it('goes on with the next mail when onMail resolves without reading the stream', async () => {
    await bed.dovecot.deliverMany(mailbox, ['u-1', 'u-2', 'u-3'].map((s) => rawMail(s, 'x'.repeat(200_000))));
    const seen: number[] = [];
    const poller = new Pop3Poller({
      host: bed.dovecot.host, port: bed.dovecot.pop3Port, mailbox, tokenSource: tokens, tls: { ca: bed.ca.caCertPem },
      uidlStore: store, uidlKey: `pop3:${mailbox}`, mode: 'trigger',
    }, { onMail: async (_source, meta) => { seen.push(meta.msgno); } });
    poller.start();
    try {
      await poller.checkNow();
      assert.deepEqual(seen, [1, 2, 3], 'the unread rest of each mail was drained, so the session went on');
      assert.equal(poller.state, 'watching');
    } finally {
      await poller.stop();
    }
  });

  it('reports a refused token as auth-failed with a fix text after one retry with a fresh token', async () => {
    const requests: boolean[] = [];
    // A well-formed Exchange token for bob, who has no access to alice's mailbox: only the server knows why.
    const refusedTokens: AccessTokenSource = {
      getAccessToken: async (_protocol, options) => {
        requests.push(options?.forceRefresh === true);
        return bed.identity.mintAccessToken({ aud: 'https://outlook.office365.com', upn: USERS.bob });
      },
    };
    const h = poll({ tokenSource: refusedTokens });
    await h.poller.checkNow();
    assert.deepEqual(requests, [false, true]);
    assert.equal(h.errors.length, 1);
    assert.equal(h.errors[0].kind, 'auth-failed');
    // The token is right for Exchange, so the fix names the mailbox side: bob has no FullAccess to alice's mailbox.
    assert.match(h.errors[0].message, /token looks right/);
    assert.match(h.errors[0].fix, /PopEnabled.*FullAccess/);
    assert.equal(h.poller.state, 'error');
  });

  it('names a refused Graph token as wrong-audience with its fix text, without asking for a fresh token', async () => {
    const requests: boolean[] = [];
    const graphToken = bed.identity.mintAccessToken({ aud: 'https://graph.microsoft.com' });
    const graphTokens: AccessTokenSource = {
      getAccessToken: async (_protocol, options) => {
        requests.push(options?.forceRefresh === true);
        return graphToken;
      },
    };
    const h = poll({ tokenSource: graphTokens });
    await h.poller.checkNow();
    assert.deepEqual(requests, [false], 'the same configuration would only get another Graph token');
    assert.equal(h.errors.length, 1);
    assert.equal(h.errors[0].kind, 'wrong-audience');
    assert.match(h.errors[0].message, /"https:\/\/graph\.microsoft\.com" \(Microsoft Graph\), but Exchange Online wants its own .*\. POP3 AUTH failed: -ERR \[AUTH\]/);
    assert.match(h.errors[0].fix, /never User\.Read or another Graph scope/);
    assert.ok(!`${h.errors[0].message} ${h.errors[0].fix}`.includes(graphToken.split('.')[2]), 'no token in the error');
    assert.equal(h.poller.state, 'error');
  });
});
