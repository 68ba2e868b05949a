/**
 * Scripted stand-ins for the POP3 poller's unit tests: a mailbox with POP3 session semantics
 * (DELE takes effect only on QUIT), clients over it that the test can make fail at any step, a
 * manual clock, and a harness that records everything the poller reports.
 */
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { M365MailError } from '../../../src/core/errors';
import type { AccessTokenSource } from '../../../src/auth/token-source';
import type { Clock } from '../../../src/core/clock';
import { parseCapabilities, type Pop3Capabilities } from '../../../src/pop3/capabilities';
import type { Pop3ClientOptions } from '../../../src/pop3/client';
import type { Pop3SessionClient } from '../../../src/pop3/poll-session';
import {
  Pop3Poller, type Pop3MailMeta, type Pop3MailSource, type Pop3PollerOptions, type Pop3PollerStatus,
} from '../../../src/pop3/poller';
import { CheckpointStore } from '../../../src/state/checkpoint-store';

export type Command = 'connect' | 'auth' | 'uidl' | 'list' | 'retr' | 'dele' | 'quit';

/** One failure to inject: the `nth` (1-based, counted over all sessions) call of `command`. */
export interface Fault {
  command: Command;
  nth?: number;
  error: M365MailError;
  /** Drop the connection too (a network failure); otherwise the session stays usable. */
  breaks?: boolean;
}

export function networkError(): M365MailError {
  return new M365MailError('POP3 connection closed: the server closed the connection', { kind: 'network', retryable: true });
}

interface StoredMail {
  uidl: string;
  raw: Buffer;
}

/** A POP3 mailbox plus the clients the poller opens on it. */
export class FakeMailbox {
  private mails: StoredMail[] = [];
  private nextId = 1;
  readonly faults: Fault[] = [];
  /** Every command of every session, e.g. `3:RETR 2`. */
  readonly log: string[] = [];
  readonly tokens: string[] = [];
  sessions = 0;
  active = 0;
  maxActive = 0;
  readonly clients: FakeClient[] = [];
  private readonly calls = new Map<Command, number>();

  /** Adds mails `Subject: <prefix> <i>`; returns their UIDLs. */
  add(count: number, prefix = 'mail'): string[] {
    const added: string[] = [];
    for (let i = 0; i < count; i++) {
      const uidl = `U${String(this.nextId++).padStart(6, '0')}`;
      this.mails.push({ uidl, raw: Buffer.from(`Subject: ${prefix} ${uidl}\r\n\r\nbody of ${uidl}\r\n`) });
      added.push(uidl);
    }
    return added;
  }

  get uidls(): string[] {
    return this.mails.map((mail) => mail.uidl);
  }

  readonly factory = (options: Pop3ClientOptions): Pop3SessionClient => {
    const client = new FakeClient(this, options);
    this.clients.push(client);
    return client;
  };

  /** UIDLs the server leaves out of its listings for now (a short listing); the mails stay stored. */
  hidden = new Set<string>();

  snapshot(): StoredMail[] {
    return this.mails.filter((mail) => !this.hidden.has(mail.uidl));
  }

  remove(uidls: Set<string>): void {
    this.mails = this.mails.filter((mail) => !uidls.has(mail.uidl));
  }

  /** Throws the injected fault for this call, if any. */
  fault(command: Command, client: FakeClient): void {
    const count = (this.calls.get(command) ?? 0) + 1;
    this.calls.set(command, count);
    const index = this.faults.findIndex((f) => f.command === command && (f.nth === undefined || f.nth === count));
    if (index < 0) return;
    const fault = this.faults[index];
    if (fault.nth !== undefined) this.faults.splice(index, 1);
    if (fault.breaks) client.close();
    throw fault.error;
  }

  commandsOf(session: number): string[] {
    return this.log.filter((line) => line.startsWith(`${session}:`)).map((line) => line.slice(line.indexOf(':') + 1));
  }
}

export class FakeClient implements Pop3SessionClient {
  closed = false;
  private readonly session: number;
  private listing: StoredMail[] = [];
  private readonly marked = new Set<string>();
  private open = false;

  constructor(private readonly box: FakeMailbox, readonly options: Pop3ClientOptions) {
    this.session = ++box.sessions;
  }

  private record(command: string): void {
    this.box.log.push(`${this.session}:${command}`);
  }

  private assertOpen(): void {
    if (this.closed) throw networkError();
  }

  async connect(): Promise<string> {
    this.record('CONNECT');
    this.box.fault('connect', this);
    this.open = true;
    this.box.active++;
    this.box.maxActive = Math.max(this.box.maxActive, this.box.active);
    this.listing = this.box.snapshot();
    return 'ready';
  }

  async capa(): Promise<Pop3Capabilities> {
    this.assertOpen();
    this.record('CAPA');
    return parseCapabilities(['UIDL', 'SASL XOAUTH2']);
  }

  async authXOAuth2(_user: string, token: string): Promise<void> {
    this.assertOpen();
    this.record('AUTH');
    this.box.tokens.push(token);
    this.box.fault('auth', this);
  }

  async uidl(): Promise<Map<number, string>> {
    this.assertOpen();
    this.record('UIDL');
    this.box.fault('uidl', this);
    return new Map(this.listing.map((mail, i) => [i + 1, mail.uidl]));
  }

  async list(): Promise<Map<number, number>> {
    this.assertOpen();
    this.record('LIST');
    this.box.fault('list', this);
    return new Map(this.listing.map((mail, i) => [i + 1, mail.raw.length]));
  }

  async retr(msgno: number): Promise<Readable> {
    this.assertOpen();
    this.record(`RETR ${msgno}`);
    this.box.fault('retr', this);
    return Readable.from([this.listing[msgno - 1].raw]);
  }

  async dele(msgno: number): Promise<void> {
    this.assertOpen();
    this.record(`DELE ${msgno}`);
    this.box.fault('dele', this);
    this.marked.add(this.listing[msgno - 1].uidl);
  }

  async quit(): Promise<void> {
    this.assertOpen();
    this.record('QUIT');
    this.box.fault('quit', this);
    this.box.remove(this.marked);
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.open) this.box.active--;
    this.open = false;
    // A session that ends without QUIT deletes nothing.
    this.marked.clear();
  }

  on(): this {
    return this;
  }
}

/** A clock whose time moves only when the test says so. */
export class ManualClock implements Clock {
  private current = 1_000_000;
  private readonly pending = new Map<number, { at: number; callback: () => void }>();
  private nextHandle = 1;

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const handle = this.nextHandle++;
    this.pending.set(handle, { at: this.current + ms, callback });
    return handle;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  /** Delays of the timers now waiting, shortest first. */
  waiting(): number[] {
    return [...this.pending.values()].map((timer) => timer.at - this.current).sort((a, b) => a - b);
  }

  /** Moves time forward, firing every timer that falls due, and lets the poller react. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    for (;;) {
      const due = [...this.pending.entries()].filter(([, timer]) => timer.at <= target).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.pending.delete(due[0]);
      this.current = due[1].at;
      due[1].callback();
      await settle();
    }
    this.current = target;
    await settle();
  }
}

/** Lets pending promise chains and immediates run. */
export async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await nextTurn();
}

/**
 * The real store's interface over a Map: no disk, so the poller's steps take only promise turns
 * and `settle()` is enough to let a whole poll run. (The integration tests use the real store.)
 */
export class MemoryCheckpointStore extends CheckpointStore {
  readonly records = new Map<string, string>();

  constructor() {
    super(path.join(tmpdir(), 'unused-memory-store'));
  }

  override async get<T>(key: string): Promise<T | undefined> {
    const text = this.records.get(key);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  override async set<T>(key: string, value: T): Promise<void> {
    this.records.set(key, JSON.stringify(value));
  }

  override async delete(key: string): Promise<void> {
    this.records.delete(key);
  }
}

export class CountingTokens implements AccessTokenSource {
  requests: Array<{ forceRefresh: boolean }> = [];
  /** When set, every request fails with it. */
  failWith?: Error;
  async getAccessToken(_protocol: 'imap' | 'pop3', options?: { forceRefresh?: boolean }): Promise<string> {
    this.requests.push({ forceRefresh: options?.forceRefresh === true });
    if (this.failWith) throw this.failWith;
    return `token-${this.requests.length}`;
  }
}

export interface Received {
  uidl: string;
  msgno: number;
  text: string;
}

export async function readAll(source: Pop3MailSource): Promise<Buffer> {
  if (Buffer.isBuffer(source)) return source;
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A poller over a FakeMailbox, with a temp UIDL store and a record of everything it reported. */
export class PollerHarness {
  readonly received: Received[] = [];
  readonly statuses: Pop3PollerStatus[] = [];
  readonly errors: M365MailError[] = [];
  readonly tokens = new CountingTokens();
  poller!: Pop3Poller;
  /** Replaces the default onMail behaviour (read + record). */
  onMail?: (source: Pop3MailSource, meta: Pop3MailMeta) => Promise<void>;
  /** Runs after each status was recorded (e.g. to make the callback throw). */
  statusHook?: (status: Pop3PollerStatus) => void;

  readonly store = new MemoryCheckpointStore();

  constructor(readonly box = new FakeMailbox()) {}

  /** Creates (and starts) a poller; a second call simulates a restart on the same store. */
  start(options: Partial<Pop3PollerOptions> = {}): Pop3Poller {
    this.poller = new Pop3Poller({
      host: 'pop.test',
      port: 995,
      mailbox: 'alice@contoso.test',
      tokenSource: this.tokens,
      uidlStore: this.store,
      uidlKey: 'pop3:test',
      mode: 'trigger',
      clientFactory: this.box.factory,
      backoff: { baseMs: 1000, capMs: 60_000, random: () => 0 },
      ...options,
    }, {
      onMail: async (source, meta) => {
        if (this.onMail) return this.onMail(source, meta);
        const text = (await readAll(source)).toString('utf8');
        this.received.push({ uidl: meta.uidl, msgno: meta.msgno, text });
      },
      onStatus: (status) => {
        this.statuses.push(status);
        this.statusHook?.(status);
      },
      onError: (error) => this.errors.push(error),
    });
    this.poller.start();
    return this.poller;
  }

  uidlsReceived(): string[] {
    return this.received.map((r) => r.uidl);
  }

  async dispose(): Promise<void> {
    await this.poller?.stop();
  }
}
