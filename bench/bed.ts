/**
 * The benchmark's own test bed: the same identity server and Dovecot as test/env/testbed.ts, plus
 * `scaleMailboxes` extra mailboxes (scale001@contoso.com …) that the daemon app may open, and the
 * folders the phases use. Everything runs against this one Dovecot, so ratios compare like with like.
 */
import { ensureTestCa, type TestCa } from '../test/env/ca';
import { startDovecot, type DovecotServer } from '../test/env/dovecot';
import { APPS, CONTOSO, createDefaultDirectory, USERS } from '../test/env/identity/directory';
import { startIdentityServer, type IdentityServer } from '../test/env/identity/server';
import { DelayProxy } from './delay-proxy';
import { BENCH_USER, EXCHANGE_RESOURCE, TESTBED_MAILBOXES, type AccountProperties } from '../test/env/testbed';

export const DRAIN_SMALL_FOLDER = 'INBOX';
export const DRAIN_LARGE_FOLDER = 'Bench20k';
export const LATENCY_FOLDER = 'Latency';
export const BIG_FOLDER = 'Big';

export interface BenchBed {
  ca: TestCa;
  identity: IdentityServer;
  dovecot: DovecotServer;
  /** Where IMAP clients connect: Dovecot itself, or a relay in front of it (`withImapEndpoint`). */
  imap: { host: string; port: number };
  /** Mailboxes for the scale phase. */
  scaleMailboxes: string[];
  /** The daemon app's m365-account node (client secret) with this id. */
  accountNode(id: string): AccountProperties & { id: string; type: 'm365-account'; credentials: { clientSecret: string } };
  /** A delegated token for alice, for the plain-client baselines (not counted as a token request). */
  aliceToken(): string;
  /** An access token for `mailbox` (the daemon app may open every bed mailbox). */
  tokenFor(mailbox: string): string;
  stop(): Promise<void>;
}

/** Starts identity server + Dovecot with the fixture mailboxes, the bench user and `scaleMailboxes` more. */
export async function startBenchBed(options: { scaleMailboxes: number }): Promise<BenchBed> {
  const ca = ensureTestCa();
  const directory = createDefaultDirectory();
  const scaleMailboxes = Array.from({ length: options.scaleMailboxes }, (_, i) => `scale${String(i + 1).padStart(3, '0')}@contoso.com`);
  for (const [i, upn] of scaleMailboxes.entries()) {
    directory.addUser({ upn, oid: `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`, tenantId: CONTOSO.tenantId, displayName: upn, canSignIn: false });
    directory.grantMailboxAccess(APPS.daemon.clientId, upn);
  }
  const identity = await startIdentityServer({ directory, tls: { cert: ca.serverCertPem, key: ca.serverKeyPem } });
  let dovecot: DovecotServer;
  try {
    dovecot = await startDovecot({
      tls: { certFile: ca.serverCertFile, keyFile: ca.serverKeyFile, caFile: ca.caCertFile },
      mailboxes: [...TESTBED_MAILBOXES, ...scaleMailboxes],
      introspectionUrl: (mailbox) => `${identity.url}/_dovecot/introspect/${encodeURIComponent(mailbox)}`,
      basicAuthUsers: [BENCH_USER],
      folders: [DRAIN_LARGE_FOLDER, LATENCY_FOLDER, BIG_FOLDER],
      startTimeoutMs: 30_000,
    });
  } catch (error) {
    await identity.close();
    throw error;
  }
  let stopped = false;
  return {
    ca,
    identity,
    dovecot,
    scaleMailboxes,
    imap: { host: dovecot.host, port: dovecot.imapPort },
    accountNode: (id) => ({
      id,
      type: 'm365-account',
      name: 'bench daemon',
      cloud: 'custom',
      authorityHost: identity.url,
      tenant: CONTOSO.tenantId,
      clientId: APPS.daemon.clientId,
      authType: 'client-secret',
      certificateThumbprint: '',
      imapHost: dovecot.host,
      imapPort: String(dovecot.imapPort),
      pop3Host: dovecot.host,
      pop3Port: String(dovecot.pop3Port),
      resource: EXCHANGE_RESOURCE,
      proxy: '',
      credentials: { clientSecret: APPS.daemon.secret },
    }),
    aliceToken: () => identity.mintAccessToken({ upn: USERS.alice }),
    tokenFor: (mailbox) => identity.mintAccessToken({ upn: mailbox }),
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.allSettled([dovecot.stop(), identity.close()]);
    },
  };
}

/**
 * Runs `use` with the bed's IMAP endpoint behind a relay that delays each direction by `delayMs`
 * (bench/delay-proxy.ts); the relay is closed afterwards.
 */
export async function throughRelay<T>(bed: BenchBed, delayMs: number, use: (relayed: BenchBed, relay: DelayProxy) => Promise<T>): Promise<T> {
  const relay = await DelayProxy.start({ targetHost: bed.dovecot.host, targetPort: bed.dovecot.imapPort, delayMs });
  try {
    return await use(withImapEndpoint(bed, relay), relay);
  } finally {
    await relay.close();
  }
}

/** The same bed with every IMAP client (account node, baselines, node-red-node-email) sent to `endpoint`. */
export function withImapEndpoint(bed: BenchBed, endpoint: { host: string; port: number }): BenchBed {
  const imap = { host: endpoint.host, port: endpoint.port };
  return { ...bed, imap, accountNode: (id) => ({ ...bed.accountNode(id), imapHost: imap.host, imapPort: String(imap.port) }) };
}

/**
 * The folder that holds the first `size` mails of the corpus: INBOX and Bench20k for the two drain
 * sizes, a folder of its own for any other size (the drains at a delay, seeded by seed.ts).
 */
export function drainFolder(size: number, config: { drainSmall: number; drainLarge: number }): string {
  if (size === config.drainSmall) return DRAIN_SMALL_FOLDER;
  if (size === config.drainLarge) return DRAIN_LARGE_FOLDER;
  return `Drain${size}`;
}
