/**
 * The watcher drains a backlog from one streamed UID FETCH: `batchSize` is the unit of progress
 * (status, checkpoint), not of waiting for the server. Runs through the relay (imap-relay.ts) in
 * front of Dovecot, which records every command the watcher sends.
 */
import assert from 'node:assert/strict';
import type { AccessTokenSource } from '../../../src/auth/token-source';
import type { Clock } from '../../../src/core/clock';
import { MailboxWatcher, type MailboxWatcherOptions, type MailMeta, type WatcherStatus } from '../../../src/imap/watcher';
import { USERS } from '../../env/identity/directory';
import { CHECKPOINT_KEY, daemonTokenSource, MemoryCheckpointStore, rawMail, readSource, startImapBed, subjectOf, type ImapBed } from './bed';
import { waitFor } from '../nodes/wait-for';
import { startImapRelay, type ImapRelay } from './imap-relay';

interface Drain {
  watcher: MailboxWatcher;
  store: MemoryCheckpointStore;
  received: Array<{ subject: string; meta: MailMeta }>;
  statuses: WatcherStatus[];
  errors: string[];
}

/** The backlog FETCHes (flags, size and source) a connection sent. */
function backlogFetches(relay: ImapRelay, connection: number): string[] {
  return relay.connections[connection].clientLines.filter((line) => /^\S+ UID FETCH [\d:,*]+ \(UID FLAGS BODY\.PEEK\[\]<0\.\d+>\)$/.test(line));
}

describe('imap MailboxWatcher streams a backlog from one FETCH', function () {
  this.timeout(30_000);
  let bed: ImapBed;
  let tokens: AccessTokenSource;
  const running: Drain[] = [];
  const relays: ImapRelay[] = [];

  before(async function () {
    this.timeout(30_000);
    bed = await startImapBed();
    tokens = daemonTokenSource(bed);
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((d) => d.watcher.stop()));
    await Promise.all(relays.splice(0).map((r) => r.close()));
  });

  after(async () => {
    await bed?.stop();
  });

  async function relay(): Promise<ImapRelay> {
    const started = await startImapRelay({
      upstream: { host: bed.dovecot.host, port: bed.dovecot.imapPort, caPem: bed.ca.caCertPem },
      tls: { certPem: bed.ca.serverCertPem, keyPem: bed.ca.serverKeyPem },
    });
    relays.push(started);
    return started;
  }

  async function backlog(folder: string, count: number, bodyBytes = 0): Promise<string[]> {
    const subjects = Array.from({ length: count }, (_, i) => `${folder}-${i}`);
    await bed.dovecot.deliverMany(USERS.alice, subjects.map((s) => rawMail(s, bodyBytes ? 'x'.repeat(bodyBytes) : undefined)), { folder });
    return subjects;
  }

  function drain(wire: ImapRelay, options: Partial<MailboxWatcherOptions> & { folder: string }, beforeHandOver?: (drain: Drain) => Promise<void>): Drain {
    const store = new MemoryCheckpointStore();
    const drained: Drain = { watcher: undefined as unknown as MailboxWatcher, store, received: [], statuses: [], errors: [] };
    drained.watcher = new MailboxWatcher({
      host: wire.host, port: wire.port, mailbox: USERS.alice, tokenSource: tokens, tls: { ca: bed.ca.caCertPem },
      checkpointStore: store, checkpointKey: CHECKPOINT_KEY, backoff: { baseMs: 50, capMs: 500 },
      criteria: 'all', mode: 'idle', intervalSec: 600, ...options,
    }, {
      onMail: async (source, meta) => {
        const subject = subjectOf(await readSource(source));
        if (beforeHandOver) await beforeHandOver(drained);
        drained.received.push({ subject, meta });
      },
      onStatus: (status) => { drained.statuses.push(status); },
      onError: (error) => { drained.errors.push(error.message); },
    });
    running.push(drained);
    drained.watcher.start();
    return drained;
  }

  function assertOnceInOrder(d: Drain, subjects: string[]): void {
    assert.deepEqual([...d.received.map((r) => r.subject)].sort(), [...subjects].sort(), 'each mail exactly once');
    const uids = d.received.map((r) => r.meta.uid);
    assert.ok(uids.every((uid, i) => i === 0 || uid > uids[i - 1]), 'UIDs strictly ascending');
  }

  it('drains 500 mails at batchSize 100 with one UID FETCH, reporting progress per batch', async () => {
    const subjects = await backlog('stream-one', 500);
    const wire = await relay();
    const d = drain(wire, { folder: 'stream-one', batchSize: 100 });
    await waitFor(() => d.received.length >= 500, () => `500 mails (have ${d.received.length})`, 20_000);
    await waitFor(() => wire.idleCommands() >= 1, () => 'IDLE after the drain', 5000);
    assertOnceInOrder(d, subjects);
    const fetches = backlogFetches(wire, 0);
    assert.equal(fetches.length, 1, `one FETCH for five batches: ${fetches.join(' | ')}`);
    assert.ok(d.statuses.filter((s) => s.state === 'fetching').length >= 5, 'a status at every batch boundary');
    assert.deepEqual(d.errors, []);
  });

  it('sends only AUTHENTICATE, EXAMINE and the search for large mails before the first FETCH: no ID, NAMESPACE, LIST, LSUB, CAPABILITY or SEARCH of the backlog', async () => {
    await backlog('stream-connect', 20);
    const wire = await relay();
    const d = drain(wire, { folder: 'stream-connect' });
    await waitFor(() => d.received.length >= 20, () => `20 mails (have ${d.received.length})`, 10_000);
    const lines = wire.connections[0].clientLines;
    const commands = lines.slice(0, lines.findIndex((line) => / UID FETCH /.test(line)) + 1).map((line) => line.split(' ').slice(1, 3).join(' '));
    assert.deepEqual(commands, ['AUTHENTICATE XOAUTH2', 'EXAMINE stream-connect', 'UID SEARCH', 'UID FETCH']);
    assert.match(lines.find((line) => / UID SEARCH /.test(line)) ?? '', / LARGER \d+$/, 'the one search asks for the mails too large for the stream');
    assert.match(lines.find((line) => / UID FETCH /.test(line)) ?? '', / UID FETCH 1:20 /, 'the range SELECT announced (UIDNEXT), not a listed set');
    assert.deepEqual(d.errors, []);
  });

  it('stores the checkpoint while the one FETCH is still streaming', async () => {
    const subjects = await backlog('stream-checkpoint', 300);
    const wire = await relay();
    // Time moves 100 ms per mail for the watcher, so the (at most every 500 ms) save comes due
    // every few mails without the test waiting.
    let skew = 0;
    const clock: Clock = { now: () => Date.now() + skew, setTimeout: (callback, ms) => setTimeout(callback, ms), clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout) };
    let storedMidStream: number | undefined;
    const d = drain(wire, { folder: 'stream-checkpoint', batchSize: 100, clock }, async (drained) => {
      skew += 100;
      if (drained.received.length === 250) storedMidStream = drained.store.value?.lastUid;
    });
    await waitFor(() => d.received.length >= 300, () => `300 mails (have ${d.received.length})`, 20_000);
    assertOnceInOrder(d, subjects);
    assert.equal(backlogFetches(wire, 0).length, 1);
    assert.ok(storedMidStream !== undefined && storedMidStream >= d.received[199].meta.uid,
      `checkpoint stored at mail 250 of the one FETCH: ${storedMidStream} (mail 200 has UID ${d.received[199].meta.uid})`);
  });

  it('loses and repeats nothing when the connection drops in the middle of the streamed FETCH', async () => {
    // 16 MB: more than the socket buffers hold, so the FETCH is still streaming at the drop.
    const subjects = await backlog('stream-drop', 400, 40_000);
    const wire = await relay();
    let dropped = false;
    const d = drain(wire, { folder: 'stream-drop', batchSize: 50 }, async (drained) => {
      if (drained.received.length === 120 && !dropped) {
        dropped = true;
        wire.injectBye('Connection dropped by the test');
      }
    });
    await waitFor(() => d.received.length >= 400, () => `400 mails (have ${d.received.length})`, 20_000);
    await d.watcher.checkNow();
    assert.ok(dropped && wire.connections.length >= 2, 'reconnected after the drop');
    assertOnceInOrder(d, subjects);
    assert.equal(backlogFetches(wire, 0).length, 1, 'the drop came inside the first connection\'s one FETCH, past two batch boundaries');
    // The stream was cut: a later connection fetched the rest, from after the checkpoint.
    const resumed = wire.connections.slice(1).flatMap((_, i) => backlogFetches(wire, i + 1))[0];
    const firstUid = Number(/ UID FETCH (\d+)/.exec(resumed ?? '')?.[1]);
    assert.ok(firstUid > d.received[0].meta.uid, `the next connection starts after the checkpoint: ${resumed}; `
      + wire.connections.map((c) => c.clientLines.map((l) => l.slice(0, 40)).join(' | ')).join(' || '));
  });
});
