/**
 * The Dovecot harness itself: seeding mail, folders with non-ASCII names, restart on the same
 * ports, cutting sessions with doveadm, and the standard (non-Exchange) profile.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { ImapFlow } from 'imapflow';
import { startDovecot } from '../../env/dovecot';
import { USERS } from '../../env/identity/directory';
import { startTestBed, type TestBed } from '../../env/testbed';

function mail(subject: string, body = 'Hello.'): string {
  return [`From: bob@contoso.com`, `To: alice@contoso.com`, `Subject: ${subject}`, `Message-ID: <${subject.replace(/\W/g, '')}@contoso.com>`, '', body, ''].join('\r\n');
}

describe('test bed: Dovecot harness', function () {
  this.timeout(15_000);
  let bed: TestBed;

  before(async () => {
    bed = await startTestBed();
  });

  after(async () => {
    await bed?.stop();
  });

  function client(port = bed.dovecot.imapPort, user: string = USERS.alice): ImapFlow {
    return new ImapFlow({
      host: bed.dovecot.host,
      port,
      secure: true,
      auth: { user, accessToken: bed.identity.mintAccessToken({ upn: user }) },
      logger: false,
      tls: { ca: bed.ca.caCertPem },
    });
  }

  it('starts the whole bed (CA, identity server, Dovecot) in about a second', async () => {
    const started = Date.now();
    const second = await startTestBed();
    const elapsed = Date.now() - started;
    await second.stop();
    assert.ok(elapsed < 2000, `took ${elapsed} ms`);
  });

  it('seeds 1,000 mails in well under a second and Dovecot counts them all', async () => {
    const raws = Array.from({ length: 1000 }, (_, i) => mail(`Bulk ${i}`));
    const started = Date.now();
    await bed.dovecot.deliverMany(USERS.bob, raws, { folder: 'Bulk' });
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 500, `deliverMany took ${elapsed} ms`);
    const { messages, unseen } = await bed.dovecot.folderStatus(USERS.bob, 'Bulk');
    assert.deepEqual({ messages, unseen }, { messages: 1000, unseen: 1000 });
  });

  it('delivers into a non-ASCII nested folder with \\Seen and the given INTERNALDATE', async () => {
    const folder = 'Café/Überblick';
    const internalDate = new Date('2024-02-29T12:34:56Z');
    await bed.dovecot.deliver(USERS.alice, mail('Folder test'), { folder, seen: true, internalDate });
    assert.deepEqual(await bed.dovecot.listMessages(USERS.alice, folder), [{ uid: 1, flags: ['\\Seen'] }]);

    const imap = client();
    await imap.connect();
    try {
      const paths = (await imap.list()).map((entry) => entry.path);
      assert.ok(paths.includes(folder), paths.join(', '));
      for (const exchangeFolder of ['Archive', 'Deleted Items', 'Drafts', 'Junk Email', 'Sent Items']) assert.ok(paths.includes(exchangeFolder));
      const lock = await imap.getMailboxLock(folder);
      try {
        const message = await imap.fetchOne('1', { flags: true, internalDate: true, envelope: true }, { uid: true });
        assert.ok(message);
        assert.equal(message.envelope?.subject, 'Folder test');
        assert.ok(message.flags?.has('\\Seen'));
        assert.equal(new Date(message.internalDate ?? 0).getTime(), internalDate.getTime());
      } finally {
        lock.release();
      }
    } finally {
      await imap.logout();
    }
  });

  it('createFolder makes folders (with "&" and non-ASCII names) that Dovecot lists and can open', async () => {
    for (const folder of ['Projects/Ω', 'R&D']) {
      await bed.dovecot.createFolder(USERS.alice, folder);
      assert.ok((await bed.dovecot.listFolders(USERS.alice)).includes(folder), folder);
      assert.equal((await bed.dovecot.folderStatus(USERS.alice, folder)).messages, 0);
    }
  });

  it('kick() drops an open IMAP session (imapflow emits close)', async () => {
    const imap = client();
    await imap.connect();
    await imap.mailboxOpen('INBOX');
    const closed = new Promise<void>((resolve) => imap.once('close', () => resolve()));
    await bed.dovecot.kick(USERS.alice);
    await closed;
    assert.equal(imap.usable, false);
  });

  it('restart() keeps ports, mail and UIDVALIDITY', async () => {
    await bed.dovecot.deliver(USERS.dave, mail('Before restart'));
    const before = await bed.dovecot.folderStatus(USERS.dave);
    const ports = [bed.dovecot.imapPort, bed.dovecot.pop3Port];
    await bed.dovecot.restart();
    assert.deepEqual([bed.dovecot.imapPort, bed.dovecot.pop3Port], ports);
    const imap = client(ports[0], USERS.dave);
    await imap.connect();
    try {
      const status = await imap.status('INBOX', { messages: true, uidValidity: true });
      assert.ok(status);
      assert.equal(status.messages, 1);
      assert.equal(status.uidValidity, BigInt(before.uidvalidity));
    } finally {
      await imap.logout();
    }
  });

  it('the standard profile offers OAUTHBEARER and Dovecot\'s full capability list, and imapflow logs in with it', async () => {
    const standard = await startDovecot({
      profile: 'standard',
      tls: { certFile: bed.ca.serverCertFile, keyFile: bed.ca.serverKeyFile, caFile: bed.ca.caCertFile },
      mailboxes: [USERS.alice],
      introspectionUrl: (mailbox) => `${bed.identity.url}/_dovecot/introspect/${encodeURIComponent(mailbox)}`,
    });
    try {
      const imap = client(standard.imapPort);
      await imap.connect();
      try {
        const capabilities = [...imap.capabilities.keys()];
        for (const capability of ['CONDSTORE', 'QRESYNC', 'ENABLE', 'SORT', 'THREAD=REFERENCES']) assert.ok(capabilities.includes(capability), capability);
        assert.ok(imap.authenticated);
      } finally {
        await imap.logout();
      }
      assert.match(await readFile(standard.logFile, 'utf8'), /method=OAUTHBEARER/);
    } finally {
      await standard.stop();
    }
  });
});

