/**
 * The IMAP watcher's behaviour on the paths Exchange takes and Dovecot alone does not: a server
 * without IDLE, polling, IDLE restarted before the server's limit, a throttled login and a session
 * invalidated with `* BYE … AccessTokenExpired`. The last three run through a relay in front of
 * Dovecot (imap-relay.ts) that sees every line the watcher sends and can play Exchange's answers.
 */
import assert from 'node:assert/strict';
import type { M365MailError } from '../../../src/core/errors';
import type { AccessTokenSource } from '../../../src/auth/token-source';
import { MailboxWatcher, type MailboxWatcherOptions, type MailMeta, type WatcherStatus } from '../../../src/imap/watcher';
import { EXCHANGE_IMAP_CAPABILITIES, startDovecot, type DovecotServer } from '../../env/dovecot';
import { APPS, USERS } from '../../env/identity/directory';
import { TESTBED_MAILBOXES } from '../../env/testbed';
import { CHECKPOINT_KEY, daemonTokenSource, MemoryCheckpointStore, rawMail, readSource, startImapBed, subjectOf, type ImapBed } from './bed';
import { waitFor } from '../nodes/wait-for';
import { startImapRelay, type ImapRelay, type RelayBehaviour } from './imap-relay';

interface Received {
  subject: string;
  meta: MailMeta;
  at: number;
  /** Bytes of the source handed over. */
  bytes: number;
}

/** One running watcher and everything it reported. */
interface Watched {
  watcher: MailboxWatcher;
  received: Received[];
  statuses: WatcherStatus[];
  errors: M365MailError[];
  subjects(): string[];
}

/** A token source that records every request and whether it asked for a fresh token. */
function recordingTokenSource(inner: AccessTokenSource): AccessTokenSource & { calls: boolean[] } {
  const source = {
    calls: [] as boolean[],
    getAccessToken(protocol: 'imap' | 'pop3', options?: { forceRefresh?: boolean }): Promise<string> {
      source.calls.push(options?.forceRefresh === true);
      return inner.getAccessToken(protocol, options);
    },
  };
  return source;
}

describe('imap MailboxWatcher: IDLE fallback, polling, IDLE restarts, throttling and invalidated sessions', function () {
  this.timeout(20_000);
  let bed: ImapBed;
  let tokens: AccessTokenSource;
  const running: Watched[] = [];
  const relays: ImapRelay[] = [];

  before(async function () {
    this.timeout(30_000);
    bed = await startImapBed();
    tokens = daemonTokenSource(bed);
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((w) => w.watcher.stop()));
    await Promise.all(relays.splice(0).map((r) => r.close()));
  });

  after(async () => {
    await bed?.stop();
  });

  function watch(options: Partial<MailboxWatcherOptions> & { folder: string }): Watched {
    const watched: Watched = {
      watcher: undefined as unknown as MailboxWatcher,
      received: [],
      statuses: [],
      errors: [],
      subjects: () => watched.received.map((r) => r.subject),
    };
    watched.watcher = new MailboxWatcher({
      host: bed.dovecot.host,
      port: bed.dovecot.imapPort,
      mailbox: USERS.alice,
      tokenSource: tokens,
      tls: { ca: bed.ca.caCertPem },
      checkpointStore: new MemoryCheckpointStore(),
      checkpointKey: CHECKPOINT_KEY,
      backoff: { baseMs: 100, capMs: 1000 },
      ...options,
    }, {
      onMail: async (source, meta) => {
        const raw = await readSource(source);
        watched.received.push({ subject: subjectOf(raw), meta, at: Date.now(), bytes: raw.length });
      },
      onStatus: (status) => { watched.statuses.push(status); },
      onError: (error) => { watched.errors.push(error); },
    });
    running.push(watched);
    watched.watcher.start();
    return watched;
  }

  /** A relay in front of `server` (default: the bed's Dovecot). */
  async function relay(behaviour?: (index: number) => RelayBehaviour, server: DovecotServer = bed.dovecot): Promise<ImapRelay> {
    const started = await startImapRelay({
      upstream: { host: server.host, port: server.imapPort, caPem: bed.ca.caCertPem },
      tls: { certPem: bed.ca.serverCertPem, keyPem: bed.ca.serverKeyPem },
      behaviour,
    });
    relays.push(started);
    return started;
  }

  function lastStatus(w: Watched): string {
    return JSON.stringify(w.statuses.at(-1));
  }

  /** Delivers a mail and waits until the watcher handed it over; returns how long that took. */
  async function deliverAndAwait(w: Watched, folder: string, subject: string, timeoutMs: number, server: DovecotServer = bed.dovecot): Promise<number> {
    const sentAt = Date.now();
    await server.deliver(USERS.alice, rawMail(subject), { folder });
    await waitFor(() => w.subjects().includes(subject), () => `mail "${subject}" (have ${w.subjects().join(', ')}; last status ${lastStatus(w)})`, timeoutMs);
    return w.received.find((r) => r.subject === subject)!.at - sentAt;
  }

  describe('a server that does not advertise IDLE', function () {
    let noIdle: DovecotServer;

    before(async function () {
      noIdle = await startDovecot({
        tls: { certFile: bed.ca.serverCertFile, keyFile: bed.ca.serverKeyFile, caFile: bed.ca.caCertFile },
        mailboxes: TESTBED_MAILBOXES,
        introspectionUrl: (mailbox) => `${bed.identity.url}/_dovecot/introspect/${encodeURIComponent(mailbox)}`,
        imapCapabilities: EXCHANGE_IMAP_CAPABILITIES.filter((capability) => capability !== 'IDLE'),
        folders: [],
      });
    });

    after(async () => {
      await noIdle?.stop();
    });

    it('in idle mode polls every interval instead, says so in the status, and emits new mail', async function () {
      const wire = await relay(undefined, noIdle);
      const w = watch({ folder: 'INBOX', mode: 'idle', intervalSec: 1, host: wire.host, port: wire.port });
      await waitFor(() => w.statuses.some((s) => s.state === 'polling'), () => `a polling status (last ${lastStatus(w)})`, 8000);
      const polling = w.statuses.find((s) => s.state === 'polling')!;
      assert.match(polling.detail ?? '', /no IDLE; polling/);
      assert.ok(!w.statuses.some((s) => s.state === 'watching'), 'never claims to be watching with IDLE');

      const first = await deliverAndAwait(w, 'INBOX', 'no-idle-1', 4000, noIdle);
      const second = await deliverAndAwait(w, 'INBOX', 'no-idle-2', 4000, noIdle);
      this.test!.title += ` [${first} ms, ${second} ms]`;
      assert.ok(first < 2500 && second < 2500, `emitted within an interval plus a check (${first} ms, ${second} ms)`);
      assert.deepEqual(w.subjects(), ['no-idle-1', 'no-idle-2']);
      assert.equal(wire.idleCommands(), 0, 'never sent IDLE to a server that does not offer it');
      assert.equal(wire.connections.length, 1, 'polled over one connection');
      const noops = wire.connections[0].clientLines.filter((line) => /^\S+ NOOP$/i.test(line)).length;
      assert.ok(noops >= 2, `asked the server for news on every poll (${noops} NOOPs)`);
      assert.deepEqual(w.errors, []);
    });
  });

  it('in poll mode emits new mail within the interval, without IDLE', async function () {
    await bed.dovecot.createFolder(USERS.alice, 'gaps-poll');
    const wire = await relay();
    const w = watch({ folder: 'gaps-poll', mode: 'poll', intervalSec: 1, host: wire.host, port: wire.port });
    await waitFor(() => w.watcher.state === 'polling', () => `state polling (last ${lastStatus(w)})`, 8000);
    const first = await deliverAndAwait(w, 'gaps-poll', 'poll-1', 4000);
    const second = await deliverAndAwait(w, 'gaps-poll', 'poll-2', 4000);
    this.test!.title += ` [${first} ms, ${second} ms]`;
    assert.ok(first < 2500 && second < 2500, `emitted within an interval plus a check (${first} ms, ${second} ms)`);
    assert.deepEqual(w.subjects(), ['poll-1', 'poll-2']);
    assert.equal(wire.idleCommands(), 0, 'poll mode does not IDLE');
    assert.ok(w.statuses.every((s) => s.state !== 'watching'));
    assert.deepEqual(w.errors, []);
  });

  describe('mail announced while idling (EXISTS)', () => {
    /** Client lines sent after the IDLE that the first check ended with. */
    function linesAfterFirstIdle(wire: ImapRelay): string[] {
      const lines = wire.connections[0].clientLines;
      return lines.slice(lines.findIndex((line) => /^\S+ IDLE$/i.test(line)) + 1);
    }

    it('fetches announced mail at once with one UID FETCH of flags and source: no NOOP, no SEARCH', async () => {
      await bed.dovecot.createFolder(USERS.alice, 'gaps-announced');
      const wire = await relay();
      const w = watch({ folder: 'gaps-announced', mode: 'idle', intervalSec: 600, host: wire.host, port: wire.port });
      await waitFor(() => wire.idleCommands() >= 1, () => `first IDLE (last status ${lastStatus(w)})`, 5000);
      await deliverAndAwait(w, 'gaps-announced', 'announced-1', 3000);
      await deliverAndAwait(w, 'gaps-announced', 'announced-2', 3000);
      const after = linesAfterFirstIdle(wire).filter((line) => line !== 'DONE' && !/^\S+ IDLE$/i.test(line));
      assert.equal(after.length, 2, `one command per announced mail: ${after.join(' | ')}`);
      for (const line of after) assert.match(line, /^\S+ UID FETCH \d+:\* \(UID FLAGS BODY\.PEEK\[\]<0\.4194304>\)$/);
      assert.deepEqual(w.subjects(), ['announced-1', 'announced-2']);
      assert.deepEqual(w.errors, []);
    });

    it('streams an announced mail that does not fit the first FETCH, whole and in order', async () => {
      await bed.dovecot.createFolder(USERS.alice, 'gaps-announced-big');
      const w = watch({ folder: 'gaps-announced-big', mode: 'idle', intervalSec: 600, streamThresholdBytes: 2000 });
      await waitFor(() => w.statuses.some((s) => s.state === 'watching'), () => `watching (last status ${lastStatus(w)})`, 5000);
      const big = rawMail('announced-big', 'x'.repeat(20_000));
      await bed.dovecot.deliverMany(USERS.alice, [rawMail('announced-small-1'), big, rawMail('announced-small-2')], { folder: 'gaps-announced-big' });
      await waitFor(() => w.received.length >= 3, () => `three mails (have ${w.subjects().join(', ')})`, 5000);
      assert.deepEqual(w.subjects(), ['announced-small-1', 'announced-big', 'announced-small-2']);
      assert.equal(w.received[1].bytes, Buffer.byteLength(big), 'the big mail is handed over whole');
      assert.deepEqual(w.errors, []);
    });

    it('drains a backlog of several batches with one streamed FETCH (no FETCH per batch, no size FETCH); mails too large for it come whole and in order', async () => {
      await bed.dovecot.createFolder(USERS.alice, 'gaps-backlog-mixed');
      const mails = [
        rawMail('mixed-1'), rawMail('mixed-big-1', 'y'.repeat(30_000)), rawMail('mixed-2'),
        rawMail('mixed-big-2', 'z'.repeat(25_000)), rawMail('mixed-3'), rawMail('mixed-4'),
      ];
      await bed.dovecot.deliverMany(USERS.alice, mails, { folder: 'gaps-backlog-mixed' });
      const wire = await relay();
      const w = watch({ folder: 'gaps-backlog-mixed', mode: 'idle', intervalSec: 600, criteria: 'all', batchSize: 4, streamThresholdBytes: 4000, host: wire.host, port: wire.port });
      await waitFor(() => w.received.length >= 6, () => `six mails (have ${w.subjects().join(', ')})`, 5000);
      assert.deepEqual(w.subjects(), ['mixed-1', 'mixed-big-1', 'mixed-2', 'mixed-big-2', 'mixed-3', 'mixed-4']);
      w.received.forEach((r, i) => assert.equal(r.bytes, Buffer.byteLength(mails[i]), `${r.subject} whole`));
      const lines = wire.connections[0].clientLines;
      const batchFetches = lines.filter((line) => /^\S+ UID FETCH [\d:,*]+ \(UID FLAGS BODY\.PEEK\[\]<0\.4000>\)$/.test(line));
      assert.equal(batchFetches.length, 1, `one FETCH for the backlog, batches of 4 or not: ${lines.filter((l) => / FETCH /.test(l)).join(' | ')}`);
      assert.ok(!lines.some((line) => /\(UID FLAGS RFC822\.SIZE\)$/.test(line)), 'no FETCH of sizes alone');
      assert.deepEqual(w.errors, []);
    });

    it('ends a backlog window at a large mail when the mails behind it could exceed the hold limit, still in order and once', async () => {
      await bed.dovecot.createFolder(USERS.alice, 'gaps-backlog-hold');
      const mails = [rawMail('hold-1'), rawMail('hold-big', 'q'.repeat(20_000)), rawMail('hold-2'), rawMail('hold-3'), rawMail('hold-4')];
      await bed.dovecot.deliverMany(USERS.alice, mails, { folder: 'gaps-backlog-hold' });
      // Room for one small mail behind the big one: hold-3 and hold-4 come with the next pass.
      const wire = await relay();
      const w = watch({ folder: 'gaps-backlog-hold', mode: 'idle', intervalSec: 600, criteria: 'all', streamThresholdBytes: 4000, holdAfterLargeBytes: 150, host: wire.host, port: wire.port });
      await waitFor(() => w.received.length >= 5, () => `five mails (have ${w.subjects().join(', ')})`, 5000);
      await w.watcher.checkNow();
      assert.deepEqual(w.subjects(), ['hold-1', 'hold-big', 'hold-2', 'hold-3', 'hold-4']);
      const batchFetches = wire.connections[0].clientLines.filter((line) => /^\S+ UID FETCH [\d:,*]+ \(UID FLAGS BODY\.PEEK\[\]<0\.4000>\)$/.test(line));
      assert.equal(batchFetches.length, 2, `the rest came with a second FETCH: ${batchFetches.join(' | ')}`);
      assert.match(batchFetches[0], / UID FETCH 1:2 /, 'the first window ends at the large mail');
      assert.equal(w.received[1].bytes, Buffer.byteLength(mails[1]));
      assert.deepEqual(w.errors, []);
    });

    it('leaves announced mails behind a large one to the next pass when holding them would exceed the limit, still in order and once', async () => {
      await bed.dovecot.createFolder(USERS.alice, 'gaps-announced-hold');
      const wire = await relay();
      const w = watch({ folder: 'gaps-announced-hold', mode: 'idle', intervalSec: 600, streamThresholdBytes: 4000, holdAfterLargeBytes: 150, host: wire.host, port: wire.port });
      await waitFor(() => wire.idleCommands() >= 1, () => `first IDLE (last status ${lastStatus(w)})`, 5000);
      const mails = [rawMail('ahold-1'), rawMail('ahold-big', 'q'.repeat(20_000)), rawMail('ahold-2'), rawMail('ahold-3'), rawMail('ahold-4')];
      await bed.dovecot.deliverMany(USERS.alice, mails, { folder: 'gaps-announced-hold' });
      await waitFor(() => w.received.length >= 5, () => `five mails (have ${w.subjects().join(', ')})`, 5000);
      await w.watcher.checkNow();
      assert.deepEqual(w.subjects(), ['ahold-1', 'ahold-big', 'ahold-2', 'ahold-3', 'ahold-4']);
      assert.equal(w.received[1].bytes, Buffer.byteLength(mails[1]));
      const fetches = wire.connections[0].clientLines.filter((line) => /^\S+ UID FETCH [\d:,*]+ \(UID FLAGS BODY\.PEEK\[\]<0\.4000>\)$/.test(line));
      assert.ok(fetches.length >= 2, `the rest came with a later FETCH: ${fetches.join(' | ')}`);
      assert.deepEqual(w.errors, []);
    });

    it('hands over many announced mails batch by batch, each once and in UID order', async () => {
      await bed.dovecot.createFolder(USERS.alice, 'gaps-announced-many');
      const w = watch({ folder: 'gaps-announced-many', mode: 'idle', intervalSec: 600, batchSize: 3 });
      await waitFor(() => w.statuses.some((s) => s.state === 'watching'), () => `watching (last status ${lastStatus(w)})`, 5000);
      const subjects = Array.from({ length: 10 }, (_, i) => `announced-many-${i}`);
      await bed.dovecot.deliverMany(USERS.alice, subjects.map((subject) => rawMail(subject)), { folder: 'gaps-announced-many' });
      await waitFor(() => w.received.length >= 10, () => `ten mails (have ${w.received.length})`, 5000);
      await w.watcher.checkNow();
      assert.deepEqual(w.subjects(), subjects);
      const uids = w.received.map((r) => r.meta.uid);
      assert.ok(uids.every((uid, i) => i === 0 || uid > uids[i - 1]), 'UIDs ascending');
      assert.ok(w.statuses.some((s) => s.state === 'fetching' || (s.newCount ?? 0) > 0));
    });
  });

  it('re-issues IDLE before the server limit on the same connection, and still emits promptly after several restarts', async function () {
    await bed.dovecot.createFolder(USERS.alice, 'gaps-idle-restart');
    const wire = await relay();
    const w = watch({ folder: 'gaps-idle-restart', mode: 'idle', intervalSec: 600, idleRestartMs: 1000, host: wire.host, port: wire.port });
    await waitFor(() => wire.idleCommands() >= 4, () => `4 IDLE commands (have ${wire.idleCommands()}, last status ${lastStatus(w)})`, 10_000);
    assert.equal(wire.connections.length, 1, 'restarted IDLE on the same connection');
    const lines = wire.connections[0].clientLines;
    const idleAt = lines.map((line, i) => (/^\S+ IDLE$/i.test(line) ? i : -1)).filter((i) => i >= 0);
    for (let k = 1; k < idleAt.length; k++) {
      assert.ok(lines.slice(idleAt[k - 1] + 1, idleAt[k]).includes('DONE'), 'each IDLE was ended with DONE before the next');
    }
    const times = idleAt.map((i) => wire.connections[0].clientLineTimes[i]);
    const gaps = times.slice(1).map((t, k) => t - times[k]);
    assert.ok(gaps.every((gap) => gap >= 900 && gap < 2500), `IDLE restarted about every second: ${gaps.join(', ')} ms`);

    const took = await deliverAndAwait(w, 'gaps-idle-restart', 'after-restarts', 3000);
    this.test!.title += ` [${took} ms after ${wire.idleCommands()} IDLEs]`;
    assert.ok(took < 1000, `pushed within 1 s after the restarts (${took} ms)`);
    assert.deepEqual(w.subjects(), ['after-restarts']);
    assert.deepEqual(w.errors, []);
  });

  it('waits the hinted time after a throttled login, reports throttled once, and then emits mail', async function () {
    const hintMs = 2000;
    const throttled = `NO [THROTTLED] Request is throttled. Suggested Backoff Time: ${hintMs} milliseconds`;
    await bed.dovecot.createFolder(USERS.alice, 'gaps-throttled');
    const wire = await relay((index) => (index <= 2 ? { kind: 'refuse-login', loginReply: throttled } : { kind: 'relay' }));
    const w = watch({ folder: 'gaps-throttled', mode: 'idle', intervalSec: 600, host: wire.host, port: wire.port });
    await waitFor(() => w.watcher.state === 'watching', () => `state watching after the throttling (last ${lastStatus(w)})`, 12_000);

    assert.equal(wire.connections.length, 3, 'two refused logins, then one that worked');
    const waits = [0, 1].map((i) => {
      const refused = wire.connections[i];
      const loginAt = refused.clientLineTimes[refused.clientLines.findIndex((line) => /^\S+ AUTHENTICATE /i.test(line))];
      return wire.connections[i + 1].acceptedAt - loginAt;
    });
    this.test!.title += ` [reconnected ${waits.join(' ms, ')} ms after the refused login]`;
    for (const wait of waits) {
      assert.ok(wait >= hintMs, `waited at least the hinted ${hintMs} ms (${wait} ms)`);
      assert.ok(wait < hintMs + 1500, `but not much longer (${wait} ms): the hint is waited once, not twice`);
    }
    const throttledErrors = w.errors.filter((e) => e.kind === 'throttled');
    assert.equal(throttledErrors.length, 1, 'the same throttling is reported once');
    assert.equal(throttledErrors[0].retryable, true);
    assert.deepEqual(w.errors.map((e) => e.kind), ['throttled'], 'nothing else is reported');
    assert.ok(w.statuses.some((s) => s.state === 'error' && s.errorKind === 'throttled'), 'the status showed the throttling');

    await deliverAndAwait(w, 'gaps-throttled', 'after-throttling', 3000);
    assert.deepEqual(w.subjects(), ['after-throttling']);
  });

  it('reconnects with a force-refreshed token after "* BYE … AccessTokenExpired" while idling, reports no error and emits mail', async function () {
    await bed.dovecot.createFolder(USERS.alice, 'gaps-bye');
    const wire = await relay();
    const recording = recordingTokenSource(tokens);
    const w = watch({ folder: 'gaps-bye', mode: 'idle', intervalSec: 600, tokenSource: recording, host: wire.host, port: wire.port });
    await waitFor(() => wire.idleCommands() >= 1, () => `IDLE (last status ${lastStatus(w)})`, 8000);
    await deliverAndAwait(w, 'gaps-bye', 'before-bye', 3000);
    assert.deepEqual(recording.calls, [false], 'one cached token for the first connection');
    await waitFor(() => wire.idleCommands() >= 2, () => 'IDLE again after the first mail', 3000);

    assert.equal(wire.injectBye('Session invalidated - AccessTokenExpired'), 1);
    await waitFor(() => wire.connections.length === 2 && wire.idleCommands() >= 3, () => `a new session idling (connections ${wire.connections.length}, last status ${lastStatus(w)})`, 8000);
    assert.deepEqual(recording.calls, [false, true], 'the new connection logged in with a force-refreshed token');

    await deliverAndAwait(w, 'gaps-bye', 'after-bye', 3000);
    assert.deepEqual(w.subjects(), ['before-bye', 'after-bye']);
    assert.deepEqual(w.errors, [], 'an expired session token is routine, not an error');
  });

  it('keeps a working session when the planned token renewal fails, and reconnects once a new token is there', async function () {
    this.timeout(30000);
    await bed.dovecot.createFolder(USERS.alice, 'gaps-renew');
    const wire = await relay();
    // Tokens of the daemon app that live 12 s: the watcher plans its renewal at 3/4 of that.
    const mint = (lifetimeSec: number): string => bed.identity.mintAccessToken({
      aud: 'https://outlook.office365.com', appid: APPS.daemon.clientId, roles: ['IMAP.AccessAsApp', 'POP.AccessAsApp'],
      exp: Math.floor(Date.now() / 1000) + lifetimeSec,
    });
    const refreshes: Array<'failed' | 'ok'> = [];
    const flaky: AccessTokenSource = {
      async getAccessToken(_protocol, options) {
        if (!options?.forceRefresh) return mint(12);
        if (refreshes.length === 0) {
          refreshes.push('failed');
          throw new Error('identity server answered 500');
        }
        refreshes.push('ok');
        return mint(600);
      },
    };
    const w = watch({ folder: 'gaps-renew', mode: 'idle', intervalSec: 600, tokenSource: flaky, host: wire.host, port: wire.port });
    await waitFor(() => refreshes.length >= 1, () => `the planned renewal (last status ${lastStatus(w)})`, 15000);
    assert.equal(wire.connections.length, 1, 'the failed renewal left the session alone');
    await deliverAndAwait(w, 'gaps-renew', 'between-attempts', 3000);
    await waitFor(() => wire.connections.length === 2 && wire.idleCommands() >= 2, () => `a new session after the second attempt (refreshes ${refreshes.join(',')})`, 8000);
    assert.equal(refreshes[1], 'ok', 'the retry got a token before reconnecting');
    await deliverAndAwait(w, 'gaps-renew', 'after-renewal', 3000);
    assert.deepEqual(w.subjects(), ['between-attempts', 'after-renewal']);
    assert.deepEqual(w.errors, [], 'a failed planned renewal while the old token lasts is not an error');
  });
});
