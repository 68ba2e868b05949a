/**
 * Shared pieces of the m365-imap-in runtime tests: the suite fixture (useImapInBed), mail
 * fixtures, a collector for emitted messages, and bounded waits (no fixed sleeps: every wait polls
 * a condition with a deadline).
 */
import assert from 'node:assert/strict';
import { USERS } from '../../env/identity/directory';
import type { TestAccount } from '../../env/testbed';
import { builtNodes, helper } from '../../support/helper';
import { useNodeRedBed, type NodeRedBed } from './node-red-bed';
import { waitFor } from './wait-for';

export { tempDir, type TempDir } from './node-red-bed';
export { waitFor };

// After a check the node shows "watching", or "n new" when that check emitted mail.
export const IDLING = /status\.(watching|new)/;

export interface MailOptions {
  to?: string;
  body?: string;
  /** Extra MIME parts: each becomes an attachment. */
  attachments?: Array<{ filename: string; content: Buffer; contentType?: string }>;
}

/** A small RFC 822 mail with a unique Message-ID; attachments make it multipart/mixed. */
export function mail(subject: string, options: MailOptions = {}): string {
  const headers = [
    'From: Sender <sender@example.com>', `To: ${options.to ?? USERS.alice}`, `Subject: ${subject}`,
    `Message-ID: <${subject.replace(/\W/g, '')}.${Math.random().toString(36).slice(2)}@example.com>`,
    'Date: Mon, 23 Nov 2026 10:00:00 +0000', 'MIME-Version: 1.0',
  ];
  const body = options.body ?? 'Hello from the test bed';
  if (!options.attachments?.length) {
    return [...headers, 'Content-Type: text/plain; charset=utf-8', '', body, ''].join('\r\n');
  }
  const boundary = `b-${Math.random().toString(36).slice(2)}`;
  const lines = [...headers, `Content-Type: multipart/mixed; boundary="${boundary}"`, '',
    `--${boundary}`, 'Content-Type: text/plain; charset=utf-8', '', body];
  for (const attachment of options.attachments) {
    // RFC 2231 encoding keeps any byte of a hostile name (NUL, slashes) intact on the wire.
    const encodedName = encodeURIComponent(attachment.filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    lines.push(`--${boundary}`, `Content-Type: ${attachment.contentType ?? 'application/octet-stream'}`,
      'Content-Transfer-Encoding: base64', `Content-Disposition: attachment; filename*=utf-8''${encodedName}`, '',
      base64Lines(attachment.content));
  }
  lines.push(`--${boundary}--`, '');
  return lines.join('\r\n');
}

/** Base64 in 76-character lines (no spread: a 30 MB attachment has 500,000 of them). */
function base64Lines(content: Buffer): string {
  const text = content.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += 76) lines.push(text.slice(i, i + 76));
  return lines.join('\r\n');
}

export interface ReceivedMessage {
  msg: Record<string, unknown>;
  at: number;
}

/** Listens on a node's 'input' events and keeps every message with the time it arrived. */
export class Collector {
  readonly received: ReceivedMessage[] = [];

  constructor(node: { on(event: 'input', listener: (msg: Record<string, unknown>) => void): unknown }) {
    node.on('input', (msg) => this.received.push({ msg, at: Date.now() }));
  }

  get topics(): string[] {
    return this.received.map((r) => String(r.msg.topic));
  }

  get uids(): number[] {
    return this.received.map((r) => Number((r.msg.mail as { uid: number }).uid));
  }

  /** Resolves once `count` messages arrived. */
  waitForCount(count: number, timeoutMs = 10000): Promise<void> {
    return waitFor(() => this.received.length >= count, () => `${count} messages (have ${this.received.length})`, timeoutMs);
  }
}

/** Asserts every expected subject arrived exactly once and nothing else did. */
export function assertExactlyOnce(topics: string[], expected: string[]): void {
  const counts = new Map<string, number>();
  for (const topic of topics) counts.set(topic, (counts.get(topic) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([t]) => t);
  assert.deepEqual(twice, [], 'no mail emitted twice');
  const missing = expected.filter((t) => !counts.has(t));
  assert.deepEqual(missing, [], 'no mail lost');
  const unexpected = topics.filter((t) => !expected.includes(t));
  assert.deepEqual(unexpected, [], 'no unexpected mail');
}

interface SpiedMethod {
  args?: unknown[][];
  thisValues?: unknown[];
}

/**
 * First arguments of every call of a spied Node method made by `node`. The test helper spies on
 * the Node prototype, so the spy also holds the calls of every other node in the flow.
 */
function callsOf(node: unknown, method: 'status' | 'error'): unknown[] {
  const spy = (node as Record<string, SpiedMethod>)[method];
  const args = spy.args ?? [];
  return args.filter((_, i) => spy.thisValues?.[i] === node).map((call) => call[0]);
}

/** Texts of every status the node showed so far. */
export function statusTexts(node: unknown): string[] {
  return callsOf(node, 'status').map((status) => String((status as { text?: string } | undefined)?.text ?? ''));
}

/** Waits until the node shows a status whose text matches, counting only statuses after `from`. */
export async function waitForStatus(node: unknown, pattern: RegExp, from = 0, timeoutMs = 10000): Promise<number> {
  let index = -1;
  await waitFor(() => {
    const texts = statusTexts(node);
    index = texts.findIndex((text, i) => i >= from && pattern.test(text));
    return index >= 0;
  }, () => `a status matching ${pattern} (seen: ${statusTexts(node).slice(from).join(' | ')})`, timeoutMs);
  return index;
}

/** Error texts the node passed to node.error (what Catch nodes get). */
export function errorTexts(node: unknown): string[] {
  return callsOf(node, 'error').map(String);
}

/** The imap-in node as it appears in a flow; unspecified properties take their defaults. */
export function imapInNode(id: string, props: Record<string, unknown>, wires: string[][] = [['out']]): Record<string, unknown> {
  return { id, type: 'm365-imap-in', account: 'acc', mailbox: USERS.alice, folder: 'INBOX', mode: 'idle', criteria: 'new', wires, ...props };
}

/** The account config node + imap-in node(s) + the helper node 'out'. */
export function flowWith(account: TestAccount, ...nodes: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return [{ ...account.node('acc') }, ...nodes, { id: 'out', type: 'helper' }];
}

/** The node under test ('in') of a loaded flow and a collector on its output ('out'). */
export interface LoadedImapIn {
  node: unknown;
  out: Collector;
}

export interface ImapInBed extends NodeRedBed {
  /**
   * Loads account 'acc' (the daemon app; `accountNode` replaces its node, same credentials) and
   * the imap-in node 'in' with `props` → helper 'out'. Returns as soon as the flow is loaded.
   */
  load(props: Record<string, unknown>, accountNode?: Record<string, unknown>): Promise<LoadedImapIn>;
  /** load(), then waits until the node idles on its folder. */
  start(props: Record<string, unknown>, accountNode?: Record<string, unknown>): Promise<LoadedImapIn>;
}

/**
 * The fixture of the imap-in runtime suites: useNodeRedBed() with a fresh user directory per test,
 * plus load()/start() for the usual flow. Call it at the top of a describe.
 */
export function useImapInBed(): ImapInBed {
  const runtime = useNodeRedBed({ userDirPrefix: 'm365-nr-' });
  const { bed } = runtime;
  const load = async (props: Record<string, unknown>, accountNode?: Record<string, unknown>): Promise<LoadedImapIn> => {
    const account = bed.accountFor('daemon');
    const [defaultAccountNode, ...rest] = flowWith(account, imapInNode('in', props));
    await helper.load(builtNodes(), [accountNode ?? defaultAccountNode, ...rest], { acc: account.credentials });
    return { node: helper.getNode('in'), out: new Collector(helper.getNode('out')) };
  };
  return {
    ...runtime,
    load,
    async start(props, accountNode) {
      const loaded = await load(props, accountNode);
      await waitForStatus(loaded.node, IDLING);
      return loaded;
    },
  };
}
