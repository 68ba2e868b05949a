/**
 * Proves the bed's SMTP submission behaves like Exchange Online's where the sending node depends
 * on it: a real nodemailer client with a real MSAL token of Microsoft's size sends through the
 * front end, Dovecot's submission service really checks the token (audience, expiry, the SMTP
 * permission, the mailbox), the mail arrives in the recipient's mailbox and can be read over IMAP,
 * and STARTTLS comes before any AUTH.
 */
import { ConfidentialClientApplication } from '@azure/msal-node';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import nodemailer, { type SendMailOptions, type Transporter } from 'nodemailer';
import { buildXOAuth2 } from '../../../src/auth/xoauth2';
import { EXCHANGE_SMTP_HOSTNAME } from '../../env/exchange-smtp';
import { APPS, CONTOSO, USERS } from '../../env/identity/directory';
import { LineClient } from '../../env/line-client';
import { EXCHANGE_RESOURCE, startTestBed, type TestBed } from '../../env/testbed';

interface SmtpError extends Error {
  responseCode?: number;
  response?: string;
}

describe('test bed: SMTP submission as Exchange Online', function () {
  this.timeout(20_000);
  let bed: TestBed;
  let daemonToken: string;

  async function clientCredentialToken(clientId: string, secret: string, scope = `${EXCHANGE_RESOURCE}/.default`): Promise<string> {
    const msal = new ConfidentialClientApplication({
      auth: { clientId, clientSecret: secret, authority: `${bed.identity.url}/${CONTOSO.tenantId}`, knownAuthorities: [bed.identity.hostPort] },
    });
    const result = await msal.acquireTokenByClientCredential({ scopes: [scope] });
    assert.ok(result?.accessToken, 'MSAL returned no access token');
    return result.accessToken;
  }

  before(async function () {
    if (!process.env.NODE_EXTRA_CA_CERTS) {
      throw new Error('Run with NODE_EXTRA_CA_CERTS=$(npx tsx test/env/ca.ts) so MSAL trusts the test CA');
    }
    bed = await startTestBed({ smtp: true });
    daemonToken = await clientCredentialToken(APPS.daemon.clientId, APPS.daemon.secret);
  });

  after(async () => {
    await bed?.stop();
  });

  beforeEach(() => {
    bed.smtp!.reset();
  });

  function transport(accessToken: string, user: string = USERS.alice, pool = false): Transporter {
    return nodemailer.createTransport({
      host: bed.smtp!.host,
      port: bed.smtp!.port,
      secure: false,
      requireTLS: true,
      pool,
      tls: { ca: bed.ca.caCertPem },
      auth: { type: 'OAuth2', user, accessToken },
    });
  }

  function mail(subject: string, extra: Partial<SendMailOptions> = {}): SendMailOptions {
    return { from: USERS.alice, to: USERS.support, subject, text: `Body of ${subject}\n.leading dot\n`, ...extra };
  }

  async function sendRefused(accessToken: string, user: string = USERS.alice, options = mail('refused')): Promise<SmtpError> {
    const client = transport(accessToken, user);
    try {
      await client.sendMail(options);
    } catch (error) {
      return error as SmtpError;
    } finally {
      client.close();
    }
    assert.fail('the server accepted the mail');
  }

  async function readFromImap(mailbox: string, messageId: string): Promise<string> {
    const client = new ImapFlow({
      host: bed.dovecot.host, port: bed.dovecot.imapPort, secure: true, logger: false,
      tls: { ca: bed.ca.caCertPem }, auth: { user: mailbox, accessToken: daemonToken },
    });
    await client.connect();
    try {
      const lock = await client.getMailboxLock('INBOX');
      try {
        const uids = (await client.search({ header: { 'message-id': messageId } }, { uid: true })) || [];
        assert.equal(uids.length, 1, `one mail with Message-ID ${messageId} in ${mailbox}`);
        const message = await client.fetchOne(String(uids[0]), { source: true }, { uid: true });
        return message ? message.source?.toString('utf8') ?? '' : '';
      } finally {
        lock.release();
      }
    } finally {
      await client.logout();
    }
  }

  describe('tokens really checked by Dovecot submission', () => {
    it('sends with a client-credential token from the real MSAL (one-line AUTH longer than Dovecot takes) and the mail arrives over IMAP', async () => {
      // Microsoft's Exchange tokens are 1.5-2.5 KB; nodemailer puts the whole XOAUTH2 response on the AUTH line.
      assert.ok(buildXOAuth2(USERS.alice, daemonToken).length > 1700, 'the AUTH line must exceed what Dovecot reads before login');
      const client = transport(daemonToken);
      try {
        const info = await client.sendMail(mail('Round trip'));
        assert.deepEqual(info.accepted, [USERS.support]);
        assert.match(info.response ?? '', new RegExp(`^250 2\\.0\\.0 OK <.+> \\[Hostname=${EXCHANGE_SMTP_HOSTNAME}\\]$`));
        const [accepted] = await bed.smtp!.waitForAccepted(1);
        assert.equal(`<${accepted.messageId}>`, info.messageId);
        assert.equal(accepted.mailbox, USERS.alice);
        assert.deepEqual(accepted.to, [USERS.support]);
        const source = await readFromImap(USERS.support, info.messageId);
        assert.match(source, /Subject: Round trip/);
        assert.match(source, /\r\n\.leading dot\r\n/);
        // What the client sent is what the mailbox holds, below the Received line Dovecot adds.
        assert.ok(source.endsWith(accepted.raw.toString('utf8')), 'mailbox copy differs from the accepted MIME');
      } finally {
        client.close();
      }
    });

    it('sends with a delegated token carrying SMTP.Send, and refuses one with only IMAP/POP scopes', async () => {
      const sending = bed.identity.mintAccessToken({ upn: USERS.alice, scp: 'SMTP.Send' });
      const client = transport(sending);
      try {
        assert.deepEqual((await client.sendMail(mail('Delegated'))).accepted, [USERS.support]);
      } finally {
        client.close();
      }
      const reading = bed.identity.mintAccessToken({ upn: USERS.alice, scp: 'IMAP.AccessAsUser.All POP.AccessAsUser.All' });
      const error = await sendRefused(reading);
      assert.equal(error.responseCode, 535);
      assert.match(error.response ?? '', /^535 5\.7\.3 Authentication unsuccessful/);
    });

    it('refuses an app-only token without SMTP.SendAsApp that still opens the mailbox over IMAP', async () => {
      const token = await clientCredentialToken(APPS.daemonReader.clientId, APPS.daemonReader.secret);
      const error = await sendRefused(token);
      assert.equal(error.responseCode, 535);
      assert.match(error.response ?? '', /^535 5\.7\.3 Authentication unsuccessful \[/);
      const imap = await LineClient.connect({ host: bed.dovecot.host, port: bed.dovecot.imapPort, caPem: bed.ca.caCertPem });
      try {
        await imap.readUntil(/ready\.$/);
        assert.match(await imap.command(`A1 AUTHENTICATE XOAUTH2 ${buildXOAuth2(USERS.alice, token)}`), /^A1 OK /);
      } finally {
        imap.close();
      }
    });

    it('refuses a Graph-audience token from the real MSAL', async () => {
      const graph = await clientCredentialToken(APPS.daemon.clientId, APPS.daemon.secret, 'https://graph.microsoft.com/.default');
      const error = await sendRefused(graph);
      assert.equal(error.responseCode, 535);
      assert.match(error.response ?? '', /5\.7\.3 Authentication unsuccessful/);
    });

    it('refuses an expired token', async () => {
      const now = Math.floor(Date.now() / 1000);
      const expired = bed.identity.mintAccessToken({ upn: USERS.alice, scp: 'SMTP.Send', iat: now - 7200, nbf: now - 7200, exp: now - 60 });
      assert.equal((await sendRefused(expired)).responseCode, 535);
    });

    it("takes Exchange's DSN parameters, which Dovecot does not know", async () => {
      const client = transport(daemonToken);
      try {
        const info = await client.sendMail(mail('with DSN', { dsn: { id: 'dsn-1', return: 'headers', notify: ['failure', 'delay'], recipient: USERS.alice } }));
        assert.deepEqual(info.accepted, [USERS.support]);
      } finally {
        client.close();
      }
    });

    it('refuses a valid token for a mailbox the app has no permission on', async () => {
      const error = await sendRefused(daemonToken, USERS.bob, mail('not mine', { from: USERS.bob }));
      assert.equal(error.responseCode, 535);
      assert.equal(bed.smtp!.counters.failedLogins, 1);
    });
  });

  describe('STARTTLS before AUTH', () => {
    it('offers AUTH only after STARTTLS and refuses AUTH and MAIL on the plain connection, as Exchange does', async () => {
      const client = await LineClient.connect({ host: bed.smtp!.host, port: bed.smtp!.port });
      try {
        assert.match(await client.readLine(), new RegExp(`^220 ${EXCHANGE_SMTP_HOSTNAME} Microsoft ESMTP MAIL Service ready at `));
        client.send('EHLO client.test');
        const plain = await client.readUntil(/^250 /);
        assert.ok(plain.includes('250 STARTTLS'), plain.join('\n'));
        assert.ok(!plain.some((line) => /AUTH/.test(line)), plain.join('\n'));
        assert.match(await client.command(`AUTH XOAUTH2 ${buildXOAuth2(USERS.alice, daemonToken)}`), /^504 5\.7\.4 Unrecognized authentication type/);
        assert.match(await client.command(`MAIL FROM:<${USERS.alice}>`), /^451 5\.7\.3 STARTTLS is required to send mail/);
        assert.equal(await client.command('STARTTLS'), '220 2.0.0 SMTP server ready');
        await client.startTls(bed.ca.caCertPem, 'localhost');
        client.send('EHLO client.test');
        const secure = await client.readUntil(/^250 /);
        assert.ok(secure.includes('250 AUTH LOGIN XOAUTH2'), secure.join('\n'));
        for (const extension of ['SIZE 157286400', 'PIPELINING', 'ENHANCEDSTATUSCODES', '8BITMIME']) {
          assert.ok(secure.includes(`250-${extension}`), `${extension} missing: ${secure.join('\n')}`);
        }
        assert.match(await client.command(`MAIL FROM:<${USERS.alice}>`), /^530 5\.7\.57 Client not authenticated to send mail/);
        assert.equal(await client.command(`AUTH XOAUTH2 ${buildXOAuth2(USERS.alice, daemonToken)}`), '235 2.7.0 Authentication successful');
      } finally {
        client.close();
      }
    });

    it("Dovecot's own submission listener refuses AUTH before STARTTLS too", async () => {
      const client = await LineClient.connect({ host: bed.dovecot.starttlsHost, port: bed.dovecot.submissionPort! });
      try {
        assert.match(await client.readLine(), /^220 /);
        client.send('EHLO client.test');
        await client.readUntil(/^250 /);
        assert.match(await client.command('AUTH XOAUTH2'), /^530 5\.7\.0 TLS required/);
      } finally {
        client.close();
      }
    });

    it('refuses basic authentication (AUTH LOGIN) with 550 5.7.30, as Exchange does since its retirement', async () => {
      const client = nodemailer.createTransport({
        host: bed.smtp!.host, port: bed.smtp!.port, secure: false, requireTLS: true, tls: { ca: bed.ca.caCertPem },
        auth: { user: USERS.alice, pass: 'Passw0rd!' },
      });
      try {
        await assert.rejects(client.sendMail(mail('basic')), (error: SmtpError) => {
          assert.match(error.response ?? '', /^550 5\.7\.30 Basic authentication is not supported for Client Submission\./);
          return true;
        });
      } finally {
        client.close();
      }
    });
  });
});
