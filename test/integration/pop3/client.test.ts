import assert from 'node:assert/strict';
import { M365MailError } from '../../../src/core/errors';
import type { AccessTokenSource } from '../../../src/auth/token-source';
import { buildXOAuth2 } from '../../../src/auth/xoauth2';
import { MAX_COMMAND_LINE_BYTES, Pop3Client } from '../../../src/pop3/client';
import { USERS } from '../../env/identity/directory';
import { startTestBed, type TestBed } from '../../env/testbed';
import {
  daemonTokenSource, emptyMailbox, pop3Options, rawMail, readSource, recordingTlsFactory, serverUidls, signedInClient, subjectOf,
} from './bed';

describe('pop3 Pop3Client against Dovecot with XOAUTH2 and a real MSAL token', function () {
  this.timeout(20_000);
  const mailbox = USERS.support;
  let bed: TestBed;
  let tokens: AccessTokenSource;

  before(async function () {
    this.timeout(30_000);
    bed = await startTestBed();
    tokens = daemonTokenSource(bed);
  });

  beforeEach(async () => {
    await emptyMailbox(bed, tokens, mailbox);
  });

  after(async () => {
    await bed?.stop();
  });

  it('signs in with two-step AUTH XOAUTH2 and runs CAPA, STAT, LIST, UIDL, RETR, TOP, DELE and QUIT on real mail, never writing a command line over 512 bytes', async () => {
    await bed.dovecot.deliverMany(mailbox, [rawMail('first', 'one'), rawMail('second', 'two\r\n.starts with a dot'), rawMail('third', 'three')]);
    const recorder = recordingTlsFactory(bed);
    const token = await tokens.getAccessToken('pop3');
    // The factory does the TLS, so the recorder sees the plaintext lines.
    const client = new Pop3Client(pop3Options(bed, { tls: 'none', socketFactory: recorder.factory }));
    client.on('error', () => undefined);
    try {
      assert.match(await client.connect(), /POP3 service is ready/);
      const capabilities = await client.capa();
      assert.ok(capabilities.saslMechanisms.includes('XOAUTH2'));
      assert.ok(capabilities.uidl && capabilities.top);
      await client.authXOAuth2(mailbox, token);

      const stat = await client.stat();
      assert.equal(stat.count, 3);
      const sizes = await client.list();
      assert.deepEqual([...sizes.keys()], [1, 2, 3]);
      assert.equal([...sizes.values()].reduce((a, b) => a + b, 0), stat.size);
      const uidls = await client.uidl();
      assert.equal(new Set(uidls.values()).size, 3, 'UIDLs are unique');
      assert.deepEqual(await client.uidl(2), new Map([[2, uidls.get(2)]]));

      const second = await readSource(await client.retr(2));
      assert.equal(subjectOf(second), 'second');
      assert.match(second.toString('utf8'), /\r\n\.starts with a dot\r\n/, 'dot-stuffing is undone');
      assert.equal(second.length, sizes.get(2), 'RETR returns exactly the listed octets');
      const head = (await client.top(1, 0)).toString('utf8');
      assert.match(head, /^Subject: first\r$/m);
      assert.doesNotMatch(head, /one/, 'TOP 1 0 has no body lines');
      assert.equal(subjectOf(await client.retrBuffer(3)), 'third');
      await client.noop();
      await client.dele(1);
      await client.quit();
      assert.equal(client.closed, true);

      const lines = recorder.written().split('\r\n');
      assert.equal(lines.pop(), '', 'every line ends with CRLF');
      const continuation = buildXOAuth2(mailbox, token);
      const authAt = lines.indexOf('AUTH XOAUTH2');
      assert.equal(lines[authAt + 1], continuation, 'the token goes on its own line after "+" (two-step form)');
      assert.ok(Buffer.byteLength(continuation) + 2 > MAX_COMMAND_LINE_BYTES, 'a real token is longer than a command may be');
      const commands = lines.filter((_, i) => i !== authAt + 1);
      assert.deepEqual(commands, ['CAPA', 'AUTH XOAUTH2', 'STAT', 'LIST', 'UIDL', 'UIDL 2', 'RETR 2', 'TOP 1 0', 'RETR 3', 'NOOP', 'DELE 1', 'QUIT']);
      for (const line of commands) {
        assert.ok(Buffer.byteLength(line) + 2 <= MAX_COMMAND_LINE_BYTES, `command line of ${Buffer.byteLength(line) + 2} bytes`);
      }

      assert.deepEqual(await serverUidls(bed, tokens, mailbox), [uidls.get(2), uidls.get(3)], 'QUIT removed the DELE\'d mail; UIDLs are stable across sessions');
    } finally {
      client.close();
    }
  });

  it('pipelines RETR and DELE with Dovecot (PIPELINING): all sent before any answer is read, each answer goes to its own command', async () => {
    const bodies = ['one', '..two\r\n.dot', 'x'.repeat(300_000), 'four', 'five'];
    await bed.dovecot.deliverMany(mailbox, bodies.map((body, i) => rawMail(`p-${i + 1}`, body)));
    const all = await serverUidls(bed, tokens, mailbox);
    const client = await signedInClient(bed, tokens, mailbox);
    try {
      assert.equal((await client.capa()).pipelining, true, 'Dovecot announces PIPELINING');
      // Every command is issued before any answer was read; the 300 KB mail sits in the middle.
      const answers = bodies.map((_, i) => client.retr(i + 1));
      const deletions = [client.dele(2), client.dele(4)];
      const read: string[] = [];
      for (const answer of answers) read.push(subjectOf(await readSource(await answer)));
      await Promise.all(deletions);
      assert.deepEqual(read, ['p-1', 'p-2', 'p-3', 'p-4', 'p-5']);
      await client.quit();
    } finally {
      client.close();
    }
    assert.deepEqual(await serverUidls(bed, tokens, mailbox), [all[0], all[2], all[4]], 'exactly the DELE\'d mails are gone');
  });

  it('keeps a DELE\'d mail when the session ends without QUIT', async () => {
    await bed.dovecot.deliver(mailbox, rawMail('kept'));
    const before = await serverUidls(bed, tokens, mailbox);
    const client = await signedInClient(bed, tokens, mailbox);
    await client.dele(1);
    client.close();
    assert.deepEqual(await serverUidls(bed, tokens, mailbox), before);
  });

  it('refuses a Graph-audience token with kind auth-failed and a fix text, without the token in the error', async () => {
    const graphToken = bed.identity.mintAccessToken({ aud: 'https://graph.microsoft.com' });
    const client = new Pop3Client(pop3Options(bed));
    client.on('error', () => undefined);
    try {
      await client.connect();
      await assert.rejects(client.authXOAuth2(USERS.alice, graphToken), (error: unknown) => {
        assert.ok(error instanceof M365MailError);
        assert.equal(error.kind, 'auth-failed');
        assert.match(error.message, /AUTH failed: -ERR \[AUTH\] Authentication failed/);
        assert.match(error.fix, /outlook\.office/);
        assert.ok(!`${error.message} ${error.fix}`.includes(graphToken.slice(-40)), 'no token in the error');
        return true;
      });
    } finally {
      client.close();
    }
  });
});
