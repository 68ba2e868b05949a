/**
 * Shared pieces of the m365-pop3-in runtime tests: the suite fixture (usePop3Bed), the flow around
 * the node, a collector for what it emits, the node's own log lines (node.debug / node.error, as
 * the test helper spies them), a second POP3 client to see the server's view, and bounded waits
 * (no fixed sleeps).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import type { AccessTokenSource } from '../../../src/auth/token-source';
import { USERS } from '../../env/identity/directory';
import type { TestAccount, TestBed } from '../../env/testbed';
import { daemonTokenSource, emptyMailbox, serverUidls } from '../pop3/bed';
import { helper } from '../../support/helper';
import { useNodeRedBed, type NodeRedBed } from './node-red-bed';
import { waitFor } from './wait-for';

export { waitFor };

export const MAILBOX = USERS.alice;

/** A small RFC 822 mail; the subject doubles as its identity in the assertions. */
export function mail(subject: string, body = 'Hello from the POP3 test bed'): string {
  return [
    'From: Sender <sender@example.com>', `To: ${MAILBOX}`, `Subject: ${subject}`,
    `Message-ID: <${subject.replace(/\W/g, '')}.${Math.random().toString(36).slice(2)}@example.com>`,
    'Date: Mon, 23 Nov 2026 10:00:00 +0000', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', body, '',
  ].join('\r\n');
}

/** `count` subjects `<prefix>-001` … in delivery order. */
export function subjects(prefix: string, count: number, first = 1): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${String(first + i).padStart(3, '0')}`);
}

type InputNode = { on(event: 'input', listener: (msg: Record<string, unknown>) => void): unknown };

/** Keeps every message a helper node receives. */
export class Collector {
  readonly received: Array<Record<string, unknown>> = [];

  constructor(node: InputNode, onMessage?: (msg: Record<string, unknown>, count: number) => void) {
    node.on('input', (msg) => {
      this.received.push(msg);
      onMessage?.(msg, this.received.length);
    });
  }

  get topics(): string[] {
    return this.received.map((msg) => String(msg.topic));
  }

  get uidls(): string[] {
    return this.received.map((msg) => String((msg.mail as { uidl: string }).uidl));
  }

  waitForCount(count: number, timeoutMs = 15000): Promise<void> {
    return waitFor(() => this.received.length >= count, () => `${count} messages (have ${this.received.length})`, timeoutMs);
  }
}

/** Asserts every expected subject arrived exactly once and nothing else did. */
export function assertExactlyOnce(topics: string[], expected: string[]): void {
  const counts = new Map<string, number>();
  for (const topic of topics) counts.set(topic, (counts.get(topic) ?? 0) + 1);
  assert.deepEqual([...counts].filter(([, n]) => n > 1).map(([t]) => t), [], 'no mail emitted twice');
  assert.deepEqual(expected.filter((t) => !counts.has(t)), [], 'no mail lost');
  assert.deepEqual(topics.filter((t) => !expected.includes(t)), [], 'no unexpected mail');
}

interface SpiedMethod {
  args?: unknown[][];
  thisValues?: unknown[];
}

/**
 * Arguments of every call of a spied Node method made by `node`. The test helper spies on the
 * Node prototype, so a spy holds the calls of every node in the flow.
 */
export function callsOf(node: unknown, method: 'status' | 'error' | 'debug' | 'warn'): unknown[][] {
  const spy = (node as Record<string, SpiedMethod>)[method];
  const args = spy.args ?? [];
  return args.filter((_, i) => spy.thisValues?.[i] === node);
}

/** Texts of every status the node showed, in order. */
export function statusTexts(node: unknown): string[] {
  return callsOf(node, 'status').map(([status]) => String((status as { text?: string } | undefined)?.text ?? ''));
}

/** Every status object the node showed, in order. */
export function statuses(node: unknown): Array<{ fill?: string; shape?: string; text?: string }> {
  return callsOf(node, 'status').map(([status]) => (status ?? {}) as { fill?: string; shape?: string; text?: string });
}

/** What the node logged at debug level (the POP3 protocol trace and the poll summaries). */
export function debugLines(node: unknown): string[] {
  return callsOf(node, 'debug').map(([text]) => String(text));
}

/** The poll summaries ("POP3 poll of …: N listed, M new, K handed over"), one per finished session. */
export function pollSummaries(node: unknown): string[] {
  return debugLines(node).filter((line) => line.startsWith('POP3 poll of '));
}

/** Error texts the node passed to node.error, with the msg each went out with. */
export function errorCalls(node: unknown): Array<{ text: string; msg: Record<string, unknown> }> {
  return callsOf(node, 'error').map(([text, msg]) => ({ text: String(text), msg: (msg ?? {}) as Record<string, unknown> }));
}

/** Waits until the node shows a status whose text matches, counting only statuses from index `from` on. */
export async function waitForStatus(node: unknown, pattern: RegExp, from = 0, timeoutMs = 10000): Promise<number> {
  let index = -1;
  await waitFor(() => {
    index = statusTexts(node).findIndex((text, i) => i >= from && pattern.test(text));
    return index >= 0;
  }, () => `a status matching ${pattern} (seen: ${statusTexts(node).slice(from).join(' | ')})`, timeoutMs);
  return index;
}

export interface Pop3FlowOptions {
  /** m365-pop3-in properties besides account and mailbox. */
  props?: Record<string, unknown>;
  /** Account properties to override (hosts, ports, resource). */
  account?: Partial<TestAccount['properties']>;
}

/**
 * The flow every test loads: account 'acc', the node under test 'in' → helper 'out', and a
 * Complete node → helper 'done' that hears when the node finished an input msg (that is, when the
 * poll it asked for ended): negative checks wait for that instead of sleeping.
 */
export function pop3Flow(bed: TestBed, options: Pop3FlowOptions = {}): { flow: Array<Record<string, unknown>>; credentials: Record<string, unknown> } {
  const account = bed.accountFor('daemon');
  return {
    flow: [
      { id: 'tab', type: 'tab', label: 'pop3' },
      { ...account.node('acc'), ...options.account },
      {
        id: 'in', z: 'tab', type: 'm365-pop3-in', account: 'acc', mailbox: MAILBOX, mode: 'trigger', interval: 300,
        disposition: 'keep', batchSize: 100, output: 'parsed', attachments: 'include', wires: [['out']], ...options.props,
      },
      { id: 'out', z: 'tab', type: 'helper' },
      { id: 'when-done', z: 'tab', type: 'complete', scope: ['in'], uncaught: false, wires: [['done']] },
      { id: 'done', z: 'tab', type: 'helper' },
      { id: 'when-error', z: 'tab', type: 'catch', scope: ['in'], uncaught: false, wires: [['caught']] },
      { id: 'caught', z: 'tab', type: 'helper' },
    ],
    credentials: { acc: account.credentials },
  };
}

/** The loaded flow's nodes, with collectors on the helper nodes. */
export interface LoadedPop3Flow {
  node: { receive(msg: Record<string, unknown>): void; id: string };
  out: Collector;
  done: Collector;
  caught: Collector;
  /** Sends `payload` into the node and resolves when the node called done() for it. */
  trigger(payload?: unknown): Promise<void>;
}

/** Wires collectors to a flow loaded with pop3Flow(). */
export function attachToFlow(onMail?: (msg: Record<string, unknown>, count: number) => void): LoadedPop3Flow {
  const node = helper.getNode('in') as unknown as LoadedPop3Flow['node'];
  const done = new Collector(helper.getNode('done'));
  const loaded: LoadedPop3Flow = {
    node,
    out: new Collector(helper.getNode('out'), onMail),
    done,
    caught: new Collector(helper.getNode('caught')),
    async trigger(payload = 'check') {
      const before = done.received.length;
      node.receive({ payload });
      await done.waitForCount(before + 1, 20000);
    },
  };
  return loaded;
}

/**
 * The server's view from a second POP3 session (the daemon app's own token): UIDLs in order.
 * The token source is made on first use, so a client can be created before the bed has started.
 */
export class SecondClient {
  private tokenSource?: AccessTokenSource;

  constructor(private readonly bed: TestBed) {}

  private get tokens(): AccessTokenSource {
    this.tokenSource ??= daemonTokenSource(this.bed);
    return this.tokenSource;
  }

  uidls(): Promise<string[]> {
    return serverUidls(this.bed, this.tokens, MAILBOX);
  }

  /** Deletes everything in the INBOX, so each test starts empty. */
  empty(): Promise<void> {
    return emptyMailbox(this.bed, this.tokens, MAILBOX);
  }
}

export interface Pop3Bed extends NodeRedBed {
  /** A second POP3 client of alice's INBOX: the server's view. */
  second: SecondClient;
}

/**
 * The fixture of the pop3-in runtime suites: useNodeRedBed() with a fresh user directory per
 * test and, with `emptyBeforeEach` (default true), alice's INBOX emptied before every test.
 * Call it at the top of a describe.
 */
export function usePop3Bed(options: { emptyBeforeEach?: boolean } = {}): Pop3Bed {
  const runtime = useNodeRedBed({ userDirPrefix: 'm365-pop3-nr-' });
  const second = new SecondClient(runtime.bed);
  if (options.emptyBeforeEach ?? true) {
    beforeEach(async function () {
      await second.empty();
    });
  }
  return { ...runtime, second };
}

/**
 * A TLS-terminating relay in front of Dovecot's POP3 port, with the test bed's server certificate
 * (which the node trusts through NODE_EXTRA_CA_CERTS, like the real server's). It decrypts what the
 * node writes, keeps it, and relays it over a second TLS connection to Dovecot: the plaintext
 * lines exactly as the node put them on the wire, with nothing changed in the node.
 */
export interface RecordingRelay {
  host: string;
  port: number;
  /** Every line the node sent, in order, without its CRLF; `unterminated` holds a partial last line. */
  linesSent(): { lines: string[]; unterminated: string };
  close(): Promise<void>;
}

export async function startRecordingRelay(bed: TestBed): Promise<RecordingRelay> {
  const chunks: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({ cert: bed.ca.serverCertPem, key: bed.ca.serverKeyPem }, (fromNode) => {
    const toServer = tls.connect({ host: bed.dovecot.host, port: bed.dovecot.pop3Port, ca: bed.ca.caCertPem });
    for (const socket of [fromNode, toServer]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        fromNode.destroy();
        toServer.destroy();
      });
    }
    fromNode.on('data', (chunk: Buffer) => {
      chunks.push(Buffer.from(chunk));
      toServer.write(chunk);
    });
    toServer.pipe(fromNode);
  });
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    host: '127.0.0.1',
    port,
    linesSent() {
      const parts = Buffer.concat(chunks).toString('latin1').split('\r\n');
      const unterminated = parts.pop() ?? '';
      return { lines: parts, unterminated };
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
