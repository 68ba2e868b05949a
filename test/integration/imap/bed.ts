/**
 * What the IMAP watcher's integration tests need from the test bed: Dovecot with real XOAUTH2
 * validation against the identity server, and an AccessTokenSource for the daemon app.
 */
import { ImapFlow } from 'imapflow';
import type { Readable } from 'node:stream';
import { createTokenProvider } from '../../../src/auth/token-provider';
import type { AccessTokenSource } from '../../../src/auth/token-source';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Checkpoint } from '../../../src/imap/checkpoint-policy';
import { CheckpointStore } from '../../../src/state/checkpoint-store';
import { USERS } from '../../env/identity/directory';
import { startTestBed, type TestBed } from '../../env/testbed';

export type ImapBed = TestBed;

/** The shared test bed: identity server + Dovecot serving alice and the shared support mailbox. */
export function startImapBed(): Promise<ImapBed> {
  return startTestBed();
}

/**
 * App-only tokens of the daemon app (IMAP.AccessAsApp, FullAccess to alice and support), from the
 * package's own token provider; counts requests so tests can see renewals. A new source has an
 * empty token cache.
 */
export function daemonTokenSource(bed: ImapBed): AccessTokenSource & { requests: number } {
  const account = bed.accountFor('daemon');
  const provider = createTokenProvider({ ...account.properties, credentials: account.credentials });
  const source = {
    requests: 0,
    getAccessToken(protocol: 'imap' | 'pop3', options?: { forceRefresh?: boolean }): Promise<string> {
      source.requests++;
      return provider.getAccessToken(protocol, options);
    },
  };
  return source;
}

/** A second, independent client to look at the folder the watcher works on. */
export async function inspector(bed: ImapBed, tokens: AccessTokenSource, mailbox: string = USERS.alice): Promise<ImapFlow> {
  const client = new ImapFlow({
    host: bed.dovecot.host,
    port: bed.dovecot.imapPort,
    secure: true,
    auth: { user: mailbox, accessToken: await tokens.getAccessToken('imap') },
    logger: false,
    tls: { ca: bed.ca.caCertPem },
    disableAutoIdle: true,
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/**
 * The real store's interface over a Map (no disk); `value` is the one checkpoint the test looks
 * at (the watcher stores under its `checkpointKey`, which the tests set to CHECKPOINT_KEY).
 */
export class MemoryCheckpointStore extends CheckpointStore {
  saves = 0;
  readonly records = new Map<string, string>();

  constructor(initial?: Checkpoint) {
    super(path.join(tmpdir(), 'unused-memory-store'));
    if (initial) {
      this.records.set(CHECKPOINT_KEY, JSON.stringify({
        uidValidity: String(initial.uidValidity), lastUid: initial.lastUid, savedAt: initial.savedAt,
        updatedAt: new Date(initial.savedAt ?? Date.now()).toISOString(),
      }));
    }
  }

  /** The stored checkpoint, as the watcher sees it. */
  get value(): (Checkpoint & { pending?: Array<{ uid: number; attempts: number }> }) | undefined {
    const text = this.records.get(CHECKPOINT_KEY);
    if (text === undefined) return undefined;
    const stored = JSON.parse(text) as { uidValidity: string; lastUid: number; savedAt?: number; pending?: Array<{ uid: number; attempts: number }> };
    return { uidValidity: Number(stored.uidValidity), lastUid: stored.lastUid, savedAt: stored.savedAt, ...(stored.pending ? { pending: stored.pending } : {}) };
  }

  override async get<T>(key: string): Promise<T | undefined> {
    const text = this.records.get(key);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  override async set<T>(key: string, value: T): Promise<void> {
    if (key === CHECKPOINT_KEY) this.saves++;
    this.records.set(key, JSON.stringify(value));
  }

  override async delete(key: string): Promise<void> {
    this.records.delete(key);
  }
}

export const CHECKPOINT_KEY = 'imap:test';

export function rawMail(subject: string, body = 'hello'): string {
  return `From: sender@example.com\r\nTo: alice@contoso.com\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@test>\r\n\r\n${body}\r\n`;
}

export async function readSource(source: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(source)) return source;
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function subjectOf(raw: Buffer): string {
  return /^Subject: (.*)$/m.exec(raw.toString('utf8'))?.[1]?.trim() ?? '';
}
