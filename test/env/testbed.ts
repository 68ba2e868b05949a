/**
 * The whole local stand-in for Microsoft 365: the test CA, the identity server (Entra ID) and
 * Dovecot (Exchange Online) for the fixture mailboxes, wired so that Dovecot validates every
 * token against the identity server. Starts in well under two seconds.
 *
 * With `{ smtp: true }` it also runs Exchange's SMTP submission (`bed.smtp`, see
 * test/env/exchange-smtp.ts for its API and knobs): a front end speaking Exchange's texts, Dovecot's
 * submission service checking each token for the SMTP permission, and a sink that puts accepted
 * mail into the recipients' mailboxes.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ensureTestCa, type TestCa } from './ca';
import { startDovecot, type DovecotOptions, type DovecotServer } from './dovecot';
import { startExchangeSmtp, type ExchangeSmtp } from './exchange-smtp';
import { APPS, CONTOSO, USERS } from './identity/directory';
import { INTROSPECTION_PATHS, startIdentityServer, type IdentityServer, type IdentityServerOptions } from './identity/server';
import { startSmtpSink, type SmtpSink } from './smtp-sink';

/** Basic-auth user for benchmarking clients that cannot do OAuth2 (node-red-node-email). */
export const BENCH_USER = { user: 'bench@contoso.com', password: 'Bench-Passw0rd' } as const;

/** Every fixture mailbox Dovecot serves (the shared mailbox `support` included). */
export const TESTBED_MAILBOXES: string[] = Object.values(USERS);

/** Exchange Online's token resource, as the config node's `resource` property. */
export const EXCHANGE_RESOURCE = 'https://outlook.office365.com';

/**
 * `daemon` client secret, `cert` certificate, `public` device code (delegated), all with the
 * IMAP, POP and SMTP permissions; `reader` a client-secret daemon with IMAP/POP roles but no
 * SMTP.SendAsApp (reads, cannot send).
 */
export type AccountKind = 'daemon' | 'cert' | 'public' | 'reader';

/** `m365-account` node properties (CONTRACT.md), as a flow file stores them. */
export interface AccountProperties {
  name: string;
  cloud: 'custom';
  authorityHost: string;
  tenant: string;
  clientId: string;
  authType: 'client-secret' | 'client-certificate' | 'device-code';
  certificateThumbprint: string;
  imapHost: string;
  imapPort: string;
  pop3Host: string;
  pop3Port: string;
  /** Present when the bed runs SMTP (`smtp: true`). */
  smtpHost?: string;
  smtpPort?: string;
  resource: string;
  proxy: string;
}

export interface TestAccount {
  properties: AccountProperties;
  /** Node-RED credentials of the config node. */
  credentials: { clientSecret?: string; privateKey?: string };
  /** The mailbox this account may open (alice for all three kinds). */
  mailbox: string;
  /** The config node as it appears in a flow, with the given id. */
  node(id: string): AccountProperties & { id: string; type: 'm365-account' };
}

export interface TestBed {
  ca: TestCa;
  identity: IdentityServer;
  dovecot: DovecotServer;
  /** Exchange's SMTP submission stand-in, when started with `smtp: true`. */
  smtp?: ExchangeSmtp;
  /** Config node properties + credentials for one of the fixture apps. */
  accountFor(kind: AccountKind): TestAccount;
  /** Stops SMTP, Dovecot and the identity server. Safe to call twice. */
  stop(): Promise<void>;
}

export interface TestBedOptions {
  /** Passed to startDovecot (profile, starttls, debug, ...). */
  dovecot?: Partial<Pick<DovecotOptions, 'profile' | 'starttls' | 'debug' | 'keepBaseDir' | 'folders'>>;
  /** Passed to startIdentityServer (token lifetimes, log, ...). */
  identity?: Omit<IdentityServerOptions, 'tls'>;
  /** Also run SMTP submission (Dovecot submission + Exchange front end + delivery into the mailboxes). */
  smtp?: boolean;
}

interface ClientCertificate {
  certPem: string;
  keyPem: string;
}

/** A self-signed certificate for the `certApp` fixture, kept next to the CA so it is made once. */
function ensureClientCertificate(dir: string): ClientCertificate {
  const certFile = path.join(dir, 'client-app.pem');
  const keyFile = path.join(dir, 'client-app.key');
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile,
      '-days', '3650', '-subj', '/CN=Contoso Certificate Daemon'], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  return { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
}

/** Starts CA, identity server and Dovecot; `stop()` tears all of it down. */
export async function startTestBed(options: TestBedOptions = {}): Promise<TestBed> {
  const ca = ensureTestCa();
  const identity = await startIdentityServer({ ...options.identity, tls: { cert: ca.serverCertPem, key: ca.serverKeyPem } });
  const introspectionUrl = (path: string) => (mailbox: string) => `${identity.url}${path}${encodeURIComponent(mailbox)}`;
  let dovecot: DovecotServer | undefined;
  let sink: SmtpSink | undefined;
  let smtp: ExchangeSmtp | undefined;
  try {
    if (options.smtp) {
      const known = new Set(TESTBED_MAILBOXES.map((mailbox) => mailbox.toLowerCase()));
      sink = await startSmtpSink({
        async deliver(envelope, message) {
          for (const rcpt of new Set(envelope.to.map((to) => to.toLowerCase()))) {
            if (known.has(rcpt)) await dovecot?.deliver(rcpt, message);
          }
        },
      });
    }
    dovecot = await startDovecot({
      ...options.dovecot,
      tls: { certFile: ca.serverCertFile, keyFile: ca.serverKeyFile, caFile: ca.caCertFile },
      mailboxes: TESTBED_MAILBOXES,
      introspectionUrl: introspectionUrl(INTROSPECTION_PATHS.mail),
      basicAuthUsers: [BENCH_USER],
      ...(sink ? { submission: { relayPort: sink.port, introspectionUrl: introspectionUrl(INTROSPECTION_PATHS.smtp) } } : {}),
    });
    if (sink && dovecot.submissionPort) {
      smtp = await startExchangeSmtp({
        tls: { cert: ca.serverCertPem, key: ca.serverKeyPem },
        upstream: { host: dovecot.starttlsHost, port: dovecot.submissionPort },
        sendAsGrants: [[USERS.alice, USERS.support]],
      });
    }
  } catch (error) {
    await Promise.allSettled([dovecot?.stop(), sink?.close(), identity.close()]);
    throw error;
  }
  const mail = dovecot;

  const clientCert = ensureClientCertificate(ca.dir);
  const thumbprint = createHash('sha256').update(new X509Certificate(clientCert.certPem).raw).digest('hex').toUpperCase();
  if (!identity.directory.findApp(APPS.certApp.clientId)?.certificates.length) {
    identity.directory.registerCertificate(APPS.certApp.clientId, clientCert.certPem);
  }

  const accountFor = (kind: AccountKind): TestAccount => {
    const app = { daemon: APPS.daemon, cert: APPS.certApp, public: APPS.publicApp, reader: APPS.daemonReader }[kind];
    const secret = kind === 'daemon' ? APPS.daemon.secret : kind === 'reader' ? APPS.daemonReader.secret : undefined;
    const properties: AccountProperties = {
      name: `Test bed (${kind})`,
      cloud: 'custom',
      authorityHost: identity.url,
      tenant: CONTOSO.tenantId,
      clientId: app.clientId,
      authType: secret ? 'client-secret' : kind === 'cert' ? 'client-certificate' : 'device-code',
      certificateThumbprint: kind === 'cert' ? thumbprint : '',
      imapHost: mail.host,
      imapPort: String(mail.imapPort),
      pop3Host: mail.host,
      pop3Port: String(mail.pop3Port),
      ...(smtp ? { smtpHost: smtp.host, smtpPort: String(smtp.port) } : {}),
      resource: EXCHANGE_RESOURCE,
      proxy: '',
    };
    const credentials = secret ? { clientSecret: secret } : kind === 'cert' ? { privateKey: clientCert.keyPem } : {};
    return {
      properties,
      credentials,
      mailbox: USERS.alice,
      node: (id) => ({ id, type: 'm365-account', ...properties }),
    };
  };

  let stopped = false;
  return {
    ca,
    identity,
    dovecot: mail,
    smtp,
    accountFor,
    async stop() {
      if (stopped) return;
      stopped = true;
      await smtp?.close();
      await Promise.allSettled([mail.stop(), sink?.close(), identity.close()]);
    },
  };
}
