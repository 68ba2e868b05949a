/**
 * The whole local stand-in for Microsoft 365: the test CA, the identity server (Entra ID) and
 * Dovecot (Exchange Online) for the fixture mailboxes, wired so that Dovecot validates every
 * token against the identity server. Starts in well under two seconds.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ensureTestCa, type TestCa } from './ca';
import { startDovecot, type DovecotOptions, type DovecotServer } from './dovecot';
import { APPS, CONTOSO, USERS } from './identity/directory';
import { startIdentityServer, type IdentityServer, type IdentityServerOptions } from './identity/server';

/** Basic-auth user for benchmarking clients that cannot do OAuth2 (node-red-node-email). */
export const BENCH_USER = { user: 'bench@contoso.com', password: 'Bench-Passw0rd' } as const;

/** Every fixture mailbox Dovecot serves (the shared mailbox `support` included). */
export const TESTBED_MAILBOXES: string[] = Object.values(USERS);

/** Exchange Online's token resource, as the config node's `resource` property. */
export const EXCHANGE_RESOURCE = 'https://outlook.office365.com';

export type AccountKind = 'daemon' | 'cert' | 'public';

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
  /** Config node properties + credentials for one of the fixture apps. */
  accountFor(kind: AccountKind): TestAccount;
  /** Stops Dovecot and the identity server. Safe to call twice. */
  stop(): Promise<void>;
}

export interface TestBedOptions {
  /** Passed to startDovecot (profile, starttls, debug, ...). */
  dovecot?: Partial<Pick<DovecotOptions, 'profile' | 'starttls' | 'debug' | 'keepBaseDir' | 'folders'>>;
  /** Passed to startIdentityServer (token lifetimes, log, ...). */
  identity?: Omit<IdentityServerOptions, 'tls'>;
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
  let dovecot: DovecotServer;
  try {
    dovecot = await startDovecot({
      ...options.dovecot,
      tls: { certFile: ca.serverCertFile, keyFile: ca.serverKeyFile, caFile: ca.caCertFile },
      mailboxes: TESTBED_MAILBOXES,
      introspectionUrl: (mailbox) => `${identity.url}/_dovecot/introspect/${encodeURIComponent(mailbox)}`,
      basicAuthUsers: [BENCH_USER],
    });
  } catch (error) {
    await identity.close();
    throw error;
  }

  const clientCert = ensureClientCertificate(ca.dir);
  const thumbprint = createHash('sha256').update(new X509Certificate(clientCert.certPem).raw).digest('hex').toUpperCase();
  if (!identity.directory.findApp(APPS.certApp.clientId)?.certificates.length) {
    identity.directory.registerCertificate(APPS.certApp.clientId, clientCert.certPem);
  }

  const accountFor = (kind: AccountKind): TestAccount => {
    const app = kind === 'daemon' ? APPS.daemon : kind === 'cert' ? APPS.certApp : APPS.publicApp;
    const properties: AccountProperties = {
      name: `Test bed (${kind})`,
      cloud: 'custom',
      authorityHost: identity.url,
      tenant: CONTOSO.tenantId,
      clientId: app.clientId,
      authType: kind === 'daemon' ? 'client-secret' : kind === 'cert' ? 'client-certificate' : 'device-code',
      certificateThumbprint: kind === 'cert' ? thumbprint : '',
      imapHost: dovecot.host,
      imapPort: String(dovecot.imapPort),
      pop3Host: dovecot.host,
      pop3Port: String(dovecot.pop3Port),
      resource: EXCHANGE_RESOURCE,
      proxy: '',
    };
    const credentials = kind === 'daemon' ? { clientSecret: APPS.daemon.secret } : kind === 'cert' ? { privateKey: clientCert.keyPem } : {};
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
    dovecot,
    accountFor,
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.allSettled([dovecot.stop(), identity.close()]);
    },
  };
}
