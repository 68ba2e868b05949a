import assert from 'node:assert/strict';
import type { M365MailError } from '../../../src/core/errors';
import type { AccessTokenSource } from '../../../src/auth/token-source';
import { listFolders } from '../../../src/imap/folders';
import { MailboxWatcher, type MailboxWatcherOptions, type MailMeta, type WatcherStatus, type WatcherWarning } from '../../../src/imap/watcher';
import { USERS } from '../../env/identity/directory';
import {
  CHECKPOINT_KEY, daemonTokenSource, inspector, MemoryCheckpointStore, rawMail, readSource, startImapBed, subjectOf, type ImapBed,
} from './bed';

interface Received {
  subject: string;
  meta: MailMeta;
  at: number;
}

/** One watcher plus everything it reported, with waits that wake on its events. */
class Harness {
  readonly received: Received[] = [];
  readonly statuses: WatcherStatus[] = [];
  readonly errors: M365MailError[] = [];
  readonly warnings: WatcherWarning[] = [];
  readonly watcher: MailboxWatcher;
  private readonly wakers = new Set<() => void>();

  constructor(options: MailboxWatcherOptions, private readonly beforeHandOver?: (received: Received[]) => Promise<void>) {
    this.watcher = new MailboxWatcher(options, {
      onMail: async (source, meta) => {
        const subject = subjectOf(await readSource(source));
        if (this.beforeHandOver) await this.beforeHandOver(this.received);
        this.received.push({ subject, meta, at: Date.now() });
        this.wake();
      },
      onStatus: (status) => { this.statuses.push(status); this.wake(); },
      onError: (error) => { this.errors.push(error); this.wake(); },
      onWarning: (warning) => { this.warnings.push(warning); this.wake(); },
    });
  }

  subjects(): string[] {
    return this.received.map((r) => r.subject);
  }

  /** Resolves as soon as `predicate` holds after some watcher event; rejects after `timeoutMs`. */
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

  waitForState(state: WatcherStatus['state'], timeoutMs = 8000): Promise<void> {
    const from = this.statuses.length;
    return this.waitFor(() => this.statuses.slice(from).some((s) => s.state === state) || this.watcher.state === state, timeoutMs, `state ${state}`);
  }

  private wake(): void {
    for (const waker of [...this.wakers]) waker();
  }
}

describe('imap MailboxWatcher against Dovecot with XOAUTH2', function () {
  this.timeout(30_000);
  let bed: ImapBed;
  let tokens: AccessTokenSource & { requests: number };
  const harnesses: Harness[] = [];

  before(async function () {
    this.timeout(30_000);
    bed = await startImapBed();
    tokens = daemonTokenSource(bed);
  });

  afterEach(async () => {
    await Promise.all(harnesses.splice(0).map((h) => h.watcher.stop()));
    bed.identity.tokenLifetimeSec = 3600;
  });

  after(async () => {
    await bed?.stop();
  });

  function watch(options: Partial<MailboxWatcherOptions> & { folder: string }, beforeHandOver?: (received: Received[]) => Promise<void>): Harness {
    const harness = new Harness({
      host: bed.dovecot.host,
      port: bed.dovecot.imapPort,
      mailbox: USERS.alice,
      tokenSource: tokens,
      tls: { ca: bed.ca.caCertPem },
      checkpointStore: new MemoryCheckpointStore(),
      checkpointKey: CHECKPOINT_KEY,
      backoff: { baseMs: 100, capMs: 1000 },
      ...options,
    }, beforeHandOver);
    harnesses.push(harness);
    harness.watcher.start();
    return harness;
  }

  it('hands over a mail delivered while idling in under 2 s', async () => {
    await bed.dovecot.createFolder(USERS.alice, 'idle');
    await bed.dovecot.deliver(USERS.alice, rawMail('old-1'), { folder: 'idle' });
    const h = watch({ folder: 'idle', mode: 'idle', intervalSec: 600 });
    await h.waitForState('watching');
    const sentAt = Date.now();
    await bed.dovecot.deliver(USERS.alice, rawMail('idle-1'), { folder: 'idle' });
    await h.waitFor(() => h.received.length === 1, 2000, 'the new mail');
    assert.deepEqual(h.subjects(), ['idle-1'], 'criteria new skips mail that was there before the first start');
    assert.ok(h.received[0].at - sentAt < 2000);
    assert.equal(h.received[0].meta.folder, 'idle');
    assert.equal(h.received[0].meta.mailbox, USERS.alice);
    assert.deepEqual(h.errors, []);
  });

  it('hands over 500 mails with criteria all exactly once, in UID order, 100 per batch', async () => {
    const subjects = Array.from({ length: 500 }, (_, i) => `bulk-${i}`);
    await bed.dovecot.deliverMany(USERS.alice, subjects.map((s) => rawMail(s)), { folder: 'bulk' });
    const h = watch({ folder: 'bulk', criteria: 'all', batchSize: 100, mode: 'poll', intervalSec: 600 });
    await h.waitFor(() => h.received.length >= 500, 20_000, '500 mails');
    await h.watcher.checkNow();
    assert.equal(h.received.length, 500);
    // Dovecot numbers a batch of Maildir files in directory order, so compare as sets.
    assert.deepEqual([...h.subjects()].sort(), [...subjects].sort(), 'each mail exactly once');
    const uids = h.received.map((r) => r.meta.uid);
    assert.ok(uids.every((uid, i) => i === 0 || uid > uids[i - 1]), 'UIDs strictly ascending');
    const fetching = h.statuses.filter((s) => s.state === 'fetching');
    assert.ok(fetching.length >= 5, 'the backlog drained in batches');
  });

  it('emits mail that arrived while stopped exactly once after a restart with a new instance', async () => {
    const store = new MemoryCheckpointStore();
    await bed.dovecot.createFolder(USERS.alice, 'restart');
    const first = watch({ folder: 'restart', checkpointStore: store });
    await first.waitForState('watching');
    await bed.dovecot.deliver(USERS.alice, rawMail('before-stop'), { folder: 'restart' });
    await first.waitFor(() => first.received.length === 1, 3000, 'first mail');
    await first.watcher.stop();

    await bed.dovecot.deliverMany(USERS.alice, [rawMail('while-down-1'), rawMail('while-down-2')], { folder: 'restart' });
    const second = watch({ folder: 'restart', checkpointStore: store });
    await second.waitFor(() => second.received.length === 2, 5000, 'mail from the downtime');
    await second.watcher.checkNow();
    assert.deepEqual([...second.subjects()].sort(), ['while-down-1', 'while-down-2']);
    assert.deepEqual(first.subjects(), ['before-stop']);
  });

  it('loses and duplicates nothing when the session is kicked mid-fetch and Dovecot restarts', async function () {
    this.timeout(40_000);
    const subjects = Array.from({ length: 200 }, (_, i) => `chaos-${i}`);
    await bed.dovecot.deliverMany(USERS.alice, subjects.map((s) => rawMail(s)), { folder: 'chaos' });
    let kicked = false;
    let restarted = false;
    const h = watch({ folder: 'chaos', criteria: 'all', batchSize: 50 }, async (received) => {
      // Interrupt while the watcher is in the middle of a batch.
      if (received.length === 30 && !kicked) {
        kicked = true;
        await bed.dovecot.kick(USERS.alice);
      }
      if (received.length === 120 && !restarted) {
        // Cut the session, then take the server away while the watcher tries to come back.
        restarted = true;
        await bed.dovecot.kick(USERS.alice);
        await bed.dovecot.restart();
      }
    });
    await h.waitFor(() => h.received.length >= 200, 30_000, '200 mails across interruptions');
    await h.watcher.checkNow();
    assert.ok(kicked && restarted);
    assert.deepEqual([...h.subjects()].sort(), [...subjects].sort(), 'each mail exactly once');
    const uids = h.received.map((r) => r.meta.uid);
    assert.ok(uids.every((uid, i) => i === 0 || uid > uids[i - 1]), 'UIDs strictly ascending');
    const connects = h.statuses.filter((s) => s.state === 'connecting').length;
    assert.ok(connects >= 3, `connected again after kick and restart (${connects} connecting states)`);
  });

  it('reconnects with a fresh token before it expires, without loss, while idling', async function () {
    this.timeout(20_000);
    bed.identity.tokenLifetimeSec = 4;
    await bed.dovecot.createFolder(USERS.alice, 'renew');
    const shortLived = daemonTokenSource(bed); // empty MSAL cache: no 1-hour token from earlier tests
    const h = watch({ folder: 'renew', mode: 'idle', tokenSource: shortLived });
    await h.waitForState('watching');
    const sent: string[] = [];
    for (let i = 0; i < 8; i++) {
      sent.push(`renew-${i}`);
      await bed.dovecot.deliver(USERS.alice, rawMail(`renew-${i}`), { folder: 'renew' });
      await h.waitFor(() => h.received.length === i + 1, 6000, `mail ${i}`);
      await new Promise((resolve) => setTimeout(resolve, 900)); // spread deliveries over several token lifetimes
    }
    assert.deepEqual(h.subjects(), sent);
    assert.ok(shortLived.requests >= 3, `renewed the token (${shortLived.requests} token requests)`);
    assert.deepEqual(h.errors, []);
  });

  for (const disposition of ['read', 'flag', 'move', 'delete'] as const) {
    it(`applies disposition ${disposition} after handing over, checked from a second client`, async () => {
      const folder = `disp-${disposition}`;
      await bed.dovecot.deliverMany(USERS.alice, [rawMail(`${folder}-1`), rawMail(`${folder}-2`)], { folder });
      const h = watch({ folder, criteria: 'all', disposition, moveTo: disposition === 'move' ? 'Archive' : undefined, mode: 'poll', intervalSec: 600 });
      await h.waitFor(() => h.received.length === 2, 5000, 'two mails');
      await h.watcher.checkNow(); // the check that handed them over (and its dispositions) is done
      const client = await inspector(bed, tokens);
      try {
        const lock = await client.getMailboxLock(folder);
        try {
          const left = await client.fetchAll('1:*', { uid: true, flags: true, envelope: true });
          if (disposition === 'read' || disposition === 'flag') {
            const flag = disposition === 'read' ? '\\Seen' : '\\Flagged';
            assert.equal(left.length, 2);
            assert.ok(left.every((m) => m.flags?.has(flag)), `${flag} on both`);
          } else {
            assert.equal(left.length, 0, 'gone from the watched folder');
          }
        } finally {
          lock.release();
        }
        if (disposition === 'move') {
          const archive = await client.getMailboxLock('Archive');
          try {
            const moved = await client.fetchAll('1:*', { envelope: true });
            const subjects = moved.map((m) => m.envelope?.subject);
            assert.ok(subjects.includes(`${folder}-1`) && subjects.includes(`${folder}-2`));
          } finally {
            archive.release();
          }
        }
      } finally {
        await client.logout();
      }
      assert.deepEqual(h.errors, []);
    });
  }

  it('reports a disposition the server cannot carry out, and never re-emits the mail', async () => {
    await bed.dovecot.deliver(USERS.alice, rawMail('no-target'), { folder: 'disp-fail' });
    const h = watch({ folder: 'disp-fail', criteria: 'all', disposition: 'move', moveTo: 'Does Not Exist', mode: 'poll', intervalSec: 600 });
    await h.waitFor(() => h.errors.some((e) => e.kind === 'disposition-failed'), 5000, 'disposition error');
    await h.watcher.checkNow();
    await h.watcher.checkNow();
    assert.deepEqual(h.subjects(), ['no-target']);
  });

  it('applies a disposition that was still failing at a restart after it (kept with the checkpoint), once', async () => {
    const store = new MemoryCheckpointStore();
    const options = { folder: 'disp-restart', criteria: 'all', disposition: 'move', moveTo: 'Later', mode: 'poll', intervalSec: 600, checkpointStore: store } as const;
    await bed.dovecot.deliver(USERS.alice, rawMail('move-later'), { folder: 'disp-restart' });
    const first = watch(options);
    await first.waitFor(() => first.errors.some((e) => e.kind === 'disposition-failed'), 5000, 'disposition error');
    await first.watcher.stop();
    const uid = first.received[0].meta.uid;
    assert.deepEqual(store.value?.pending?.map((p) => p.uid), [uid], 'the failed disposition is stored with the checkpoint');

    await bed.dovecot.createFolder(USERS.alice, 'Later');
    const second = watch(options);
    await second.waitForState('polling');
    await second.watcher.checkNow();
    assert.deepEqual(second.subjects(), [], 'nothing emitted again');
    assert.equal(store.value?.pending, undefined, 'nothing left to apply');
    const client = await inspector(bed, tokens);
    try {
      const status = await client.status('disp-restart', { messages: true });
      assert.equal(status && status.messages, 0, 'gone from the watched folder');
      const lock = await client.getMailboxLock('Later');
      try {
        const moved = await client.fetchAll('1:*', { envelope: true });
        assert.deepEqual(moved.map((m) => m.envelope?.subject), ['move-later'], 'moved once');
      } finally {
        lock.release();
      }
    } finally {
      await client.logout();
    }
    assert.deepEqual(second.errors, []);
  });

  it('opens the shared mailbox support@contoso.com with the daemon token', async () => {
    await bed.dovecot.deliver(USERS.support, rawMail('for-support'));
    const h = watch({ folder: 'INBOX', mailbox: USERS.support, criteria: 'all', mode: 'trigger' });
    await h.waitFor(() => h.received.length === 1, 5000, 'shared mailbox mail');
    assert.equal(h.received[0].meta.mailbox, USERS.support);
    assert.equal(h.subjects()[0], 'for-support');
  });

  it('watches and lists a folder with a non-ASCII name', async () => {
    const folder = 'Rechnungen/Ärger';
    await bed.dovecot.deliver(USERS.alice, rawMail('umlaut'), { folder });
    await bed.dovecot.createFolder(USERS.alice, 'Входящие');
    const h = watch({ folder, criteria: 'all', mode: 'poll', intervalSec: 600 });
    await h.waitFor(() => h.received.length === 1, 5000, 'mail in non-ASCII folder');
    assert.equal(h.received[0].meta.folder, folder);
    const folders = await listFolders({
      host: bed.dovecot.host, port: bed.dovecot.imapPort, mailbox: USERS.alice, tokenSource: tokens, tls: { ca: bed.ca.caCertPem },
    });
    const paths = folders.map((f) => f.path);
    assert.ok(paths.includes(folder) && paths.includes('Входящие') && paths[0] === 'INBOX', paths.join(', '));
  });

  it('reports a missing folder as folder-not-found and stops within 5 s', async () => {
    const h = watch({ folder: 'Nope/Missing' });
    await h.waitFor(() => h.errors.length > 0, 5000, 'an error');
    assert.equal(h.errors[0].kind, 'folder-not-found');
    const started = Date.now();
    await h.watcher.stop();
    assert.ok(Date.now() - started < 5000);
    assert.equal(h.watcher.state, 'stopped');
  });

  it('pauses, resumes and checks on demand in trigger mode', async () => {
    await bed.dovecot.createFolder(USERS.alice, 'trigger');
    const h = watch({ folder: 'trigger', mode: 'trigger', criteria: 'all' });
    await h.waitForState('watching');
    await bed.dovecot.deliver(USERS.alice, rawMail('triggered'), { folder: 'trigger' });
    await h.watcher.checkNow();
    assert.deepEqual(h.subjects(), ['triggered']);
    await h.watcher.pause();
    assert.equal(h.watcher.state, 'paused');
    await bed.dovecot.deliver(USERS.alice, rawMail('after-pause'), { folder: 'trigger' });
    h.watcher.resume();
    await h.waitFor(() => h.received.length === 2, 5000, 'mail after resume');
    assert.deepEqual(h.subjects(), ['triggered', 'after-pause']);
  });
});
