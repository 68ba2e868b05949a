/**
 * The fault knobs of the bed's SMTP front end, each shown with a real nodemailer client (or the
 * exact lines, where the reply matters more than what a client makes of it): down/up,
 * throttling, busy, refused recipients, SMTP AUTH disabled, Send As denied, a connection cut after
 * the mail went through, and the record of accepted mail that duplicate checks rely on.
 */
import { ConfidentialClientApplication } from '@azure/msal-node';
import assert from 'node:assert/strict';
import nodemailer, { type SendMailOptions, type SentMessageInfo, type Transporter } from 'nodemailer';
import { buildXOAuth2 } from '../../../src/auth/xoauth2';
import { APPS, CONTOSO, USERS } from '../../env/identity/directory';
import { LineClient } from '../../env/line-client';
import { EXCHANGE_RESOURCE, startTestBed, type TestBed } from '../../env/testbed';

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
}

describe('test bed: SMTP fault knobs', function () {
  this.timeout(20_000);
  let bed: TestBed;
  let token: string;

  before(async function () {
    if (!process.env.NODE_EXTRA_CA_CERTS) {
      throw new Error('Run with NODE_EXTRA_CA_CERTS=$(npx tsx test/env/ca.ts) so MSAL trusts the test CA');
    }
    bed = await startTestBed({ smtp: true });
    const msal = new ConfidentialClientApplication({
      auth: {
        clientId: APPS.daemon.clientId, clientSecret: APPS.daemon.secret,
        authority: `${bed.identity.url}/${CONTOSO.tenantId}`, knownAuthorities: [bed.identity.hostPort],
      },
    });
    token = (await msal.acquireTokenByClientCredential({ scopes: [`${EXCHANGE_RESOURCE}/.default`] }))!.accessToken;
  });

  after(async () => {
    await bed?.stop();
  });

  beforeEach(async () => {
    bed.smtp!.reset();
    await bed.smtp!.up();
  });

  function transport(pool = false): Transporter {
    return nodemailer.createTransport({
      host: bed.smtp!.host, port: bed.smtp!.port, secure: false, requireTLS: true, pool, maxConnections: 1,
      tls: { ca: bed.ca.caCertPem }, auth: { type: 'OAuth2', user: USERS.alice, accessToken: token },
    });
  }

  function mail(subject: string, extra: Partial<SendMailOptions> = {}): SendMailOptions {
    return { from: USERS.alice, to: USERS.support, subject, text: subject, ...extra };
  }

  async function send(options: SendMailOptions): Promise<{ info?: SentMessageInfo; error?: SmtpError }> {
    const client = transport();
    try {
      return { info: await client.sendMail(options) };
    } catch (error) {
      return { error: error as SmtpError };
    } finally {
      client.close();
    }
  }

  /** A connection past STARTTLS and AUTH, for checking replies line by line. */
  async function signedInLines(): Promise<LineClient> {
    const client = await LineClient.connect({ host: bed.smtp!.host, port: bed.smtp!.port });
    await client.readLine();
    client.send('EHLO client.test');
    await client.readUntil(/^250 /);
    await client.command('STARTTLS');
    await client.startTls(bed.ca.caCertPem, 'localhost');
    client.send('EHLO client.test');
    await client.readUntil(/^250 /);
    assert.match(await client.command(`AUTH XOAUTH2 ${buildXOAuth2(USERS.alice, token)}`), /^235 /);
    return client;
  }

  it('down() refuses new connections and cuts open ones; up() serves again on the same port', async () => {
    const open = await signedInLines();
    await bed.smtp!.down();
    assert.equal(bed.smtp!.isUp, false);
    await assert.rejects(open.readLine(), /connection closed/);
    const { error } = await send(mail('while down'));
    assert.equal(error?.code, 'ESOCKET');
    assert.match(error?.message ?? '', /ECONNREFUSED/);
    await bed.smtp!.up();
    assert.ok((await send(mail('after up'))).info);
    assert.deepEqual(bed.smtp!.accepted.map((m) => m.raw.toString()).filter((raw) => raw.includes('while down')), []);
    assert.equal(bed.smtp!.accepted.length, 1);
  });

  it('losing the Dovecot session under a signed-in client gives 421 and closes it; the next connection sends', async () => {
    const open = await signedInLines();
    try {
      await bed.dovecot.kick(USERS.alice);
      assert.match(await open.command(`MAIL FROM:<${USERS.alice}>`), /^421 4\.4\.2 /);
      await assert.rejects(open.readLine(), /connection closed/);
    } finally {
      open.close();
    }
    assert.ok((await send(mail('after restart'))).info);
  });

  it('throttle({messages}) answers 421 4.7.66 and closes for that many mails, then accepts', async () => {
    bed.smtp!.throttle({ messages: 2 });
    for (const n of [1, 2]) {
      const { error } = await send(mail(`throttled ${n}`));
      assert.equal(error?.responseCode, 421);
      assert.match(error?.response ?? '', /^421 4\.7\.66 /);
    }
    assert.ok((await send(mail('not throttled'))).info);
    assert.equal(bed.smtp!.accepted.length, 1);
  });

  it('throttle({forMs}) lasts until reset()', async () => {
    bed.smtp!.throttle({ forMs: 60_000 });
    assert.equal((await send(mail('a'))).error?.responseCode, 421);
    assert.equal((await send(mail('b'))).error?.responseCode, 421);
    bed.smtp!.reset();
    assert.ok((await send(mail('c'))).info);
  });

  it('rateLimit() throttles a mailbox beyond N mails in the window with 421 4.7.66; other mailboxes go on', async () => {
    bed.smtp!.rateLimit({ messages: 2, windowMs: 60_000 });
    assert.ok((await send(mail('1'))).info);
    assert.ok((await send(mail('2'))).info);
    const third = (await send(mail('3'))).error;
    assert.equal(third?.responseCode, 421);
    assert.match(third?.response ?? '', /^421 4\.7\.66 /);
    const bob = nodemailer.createTransport({
      host: bed.smtp!.host, port: bed.smtp!.port, secure: false, requireTLS: true, tls: { ca: bed.ca.caCertPem },
      auth: { type: 'OAuth2', user: USERS.bob, accessToken: bed.identity.mintAccessToken({ upn: USERS.bob, scp: 'SMTP.Send' }) },
    });
    try {
      assert.ok(await bob.sendMail(mail('from bob', { from: USERS.bob })));
    } finally {
      bob.close();
    }
    assert.deepEqual(bed.smtp!.accepted.map((m) => m.mailbox), [USERS.alice, USERS.alice, USERS.bob]);
  });

  it('busy() answers 451 4.7.500 and keeps the connection open for the retry', async () => {
    bed.smtp!.busy({ messages: 1 });
    const client = await signedInLines();
    try {
      assert.match(await client.command(`MAIL FROM:<${USERS.alice}>`), /^451 4\.7\.500 Server busy\. Please try again later/);
      assert.match(await client.command(`MAIL FROM:<${USERS.alice}>`), /^250 2\.1\.0 Sender OK/);
    } finally {
      client.close();
    }
  });

  it('rejectRecipient() refuses one recipient permanently; the others still get the mail', async () => {
    bed.smtp!.rejectRecipient(USERS.bob);
    const { info } = await send(mail('partly', { to: [USERS.support, USERS.bob] }));
    assert.deepEqual(info?.accepted, [USERS.support]);
    assert.deepEqual(info?.rejected, [USERS.bob]);
    const { error } = await send(mail('only bob', { to: USERS.bob }));
    assert.equal(error?.responseCode, 550);
    assert.match(error?.response ?? '', /^550 5\.1\.10 RESOLVER\.ADR\.RecipientNotFound/);
    assert.deepEqual(bed.smtp!.accepted.map((m) => m.to), [[USERS.support]]);
  });

  it('disableSmtpAuth() gives 535 5.7.139 for the mailbox or the tenant, enableSmtpAuth() undoes it', async () => {
    bed.smtp!.disableSmtpAuth(USERS.alice);
    const mailbox = (await send(mail('x'))).error;
    assert.equal(mailbox?.responseCode, 535);
    assert.match(mailbox?.response ?? '', /^535 5\.7\.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox\./);
    bed.smtp!.enableSmtpAuth(USERS.alice);
    bed.smtp!.disableSmtpAuth('tenant');
    assert.match((await send(mail('y'))).error?.response ?? '', /SmtpClientAuthentication is disabled for the Tenant\./);
    bed.smtp!.enableSmtpAuth('tenant');
    assert.ok((await send(mail('z'))).info);
  });

  it('Send As: alice may send as the shared mailbox, not as bob; denySendAs() refuses an address', async () => {
    assert.ok((await send(mail('as support', { from: USERS.support }))).info);
    const asBob = (await send(mail('as bob', { from: USERS.bob }))).error;
    assert.equal(asBob?.responseCode, 554);
    assert.match(asBob?.response ?? '', /^554 5\.2\.0 STOREDRV\.Submission\.Exception:SendAsDeniedException\.MapiExceptionSendAsDenied;/);
    bed.smtp!.denySendAs(USERS.support);
    assert.equal((await send(mail('as support again', { from: USERS.support }))).error?.responseCode, 554);
    // A header From that differs from the envelope counts too.
    bed.smtp!.reset();
    assert.equal((await send(mail('header only', { from: USERS.bob, envelope: { from: USERS.alice, to: [USERS.support] } }))).error?.responseCode, 554);
    assert.equal(bed.smtp!.accepted.length, 0);
  });

  it('refuse() puts any reply at any stage, e.g. 550 5.1.8 after DATA and 421 4.3.2 instead of the greeting', async () => {
    bed.smtp!.refuse({ at: 'data', reply: '550 5.1.8 Access denied, bad outbound sender', times: 1 });
    const blocked = (await send(mail('blocked'))).error;
    assert.equal(blocked?.responseCode, 550);
    assert.match(blocked?.response ?? '', /^550 5\.1\.8 Access denied, bad outbound sender/);
    bed.smtp!.refuse({ at: 'connect', reply: '421 4.3.2 The maximum number of concurrent connections has exceeded a limit', times: 1 });
    const busy = (await send(mail('no greeting'))).error;
    assert.match(busy?.response ?? busy?.message ?? '', /421 4\.3\.2/);
    assert.ok((await send(mail('fine'))).info);
    assert.equal(bed.smtp!.accepted.length, 1);
  });

  it('cutAfterAccept() delivers the mail but breaks the connection, so a resend shows up as a duplicate', async () => {
    bed.smtp!.cutAfterAccept({ messages: 1 });
    const options = mail('in flight', { messageId: '<in-flight-1@contoso.com>' });
    const { error } = await send(options);
    assert.ok(error, 'the client must not see a 250');
    assert.equal(bed.smtp!.accepted.length, 1);
    assert.ok((await send(options)).info);
    assert.deepEqual(bed.smtp!.duplicateMessageIds(), ['in-flight-1@contoso.com']);
  });

  it('records every accepted mail once, with raw MIME and Message-ID, and delivers it to the mailbox', async () => {
    const before = (await bed.dovecot.folderStatus(USERS.support)).messages;
    const client = transport(true);
    const sent: string[] = [];
    try {
      const infos = await Promise.all(Array.from({ length: 20 }, (_, i) => client.sendMail(mail(`pooled ${i}`))));
      sent.push(...infos.map((info) => info.messageId.replace(/^<|>$/g, '')));
    } finally {
      client.close();
    }
    const accepted = await bed.smtp!.waitForAccepted(20);
    assert.deepEqual(accepted.map((m) => m.messageId).sort(), sent.sort());
    assert.deepEqual(bed.smtp!.duplicateMessageIds(), []);
    assert.equal(new Set(accepted.map((m) => m.connection)).size, 1, 'a pool of one connection');
    assert.equal(bed.smtp!.counters.logins, 1);
    assert.ok(accepted.every((m) => /^Subject: pooled \d+\r$/m.test(m.raw.toString())));
    assert.equal((await bed.dovecot.folderStatus(USERS.support)).messages, before + 20);
  });
});
