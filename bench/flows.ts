/**
 * Flow builders for the phases. Every reader is wired to a function node that prints "BENCH …"
 * markers (see node-red.ts): `counter` for drains (first, progress, done once `expected` distinct
 * Message-IDs were seen), `stamper` for latency (one marker per mail).
 */
import { BENCH_USER } from '../test/env/testbed';
import type { BenchBed } from './bed';

type FlowNode = Record<string, unknown>;

const TAB = { id: 'bench-tab', type: 'tab', label: 'bench' };

/** Counts distinct mails; prints first / progress (every 1,000) / done markers. */
export function counter(id: string, expected: number): FlowNode {
  // State on the function's own vm global (kept between messages): cheaper per msg than context.
  const func = `
const state = globalThis.benchCounter || (globalThis.benchCounter = { seen: new Set(), dups: 0, done: false });
const id = msg.messageId || (msg.header && msg.header['message-id']) || JSON.stringify(msg.mail || msg.topic);
if (state.seen.size === 0) node.log('BENCH first ' + Date.now());
const before = state.seen.size;
state.seen.add(id);
if (state.seen.size === before) state.dups++;
else if (state.seen.size % 1000 === 0) node.log('BENCH progress ' + state.seen.size + ' ' + Date.now());
if (state.seen.size === ${expected} && !state.done) { state.done = true; node.log('BENCH done ' + state.seen.size + ' ' + state.dups + ' ' + Date.now()); }
return null;`;
  return { id, z: TAB.id, type: 'function', name: 'counter', func, outputs: 0, wires: [] };
}

/** One marker per mail: BENCH msg <message-id-digits> <ms>. */
export function stamper(id: string): FlowNode {
  const func = `
const id = String(msg.messageId || (msg.header && msg.header['message-id']) || '').replace(/[^A-Za-z0-9@.-]/g, '');
const now = global.get('benchNow');
node.log('BENCH msg ' + id + ' ' + (now ? now().toFixed(2) : Date.now()));
return null;`;
  return { id, z: TAB.id, type: 'function', name: 'stamper', func, outputs: 0, wires: [] };
}

/** An m365-imap-action node (`action` on the mail of each msg) wired to `wireTo`. */
export function imapAction(id: string, account: string, action: string, wireTo: string): FlowNode {
  return { id, z: TAB.id, type: 'm365-imap-action', name: '', account, mailbox: '', folder: 'INBOX', action, keyword: '', target: '', actionFromMsg: false, output: 'parsed', wires: [[wireTo]] };
}

export interface ImapInOptions {
  mailbox: string;
  folder: string;
  criteria?: string;
  mode?: string;
  attachments?: string;
  maxAttachmentBytes?: number;
  attachmentDir?: string;
  batchSize?: number;
}

/** An m365-imap-in node wired to `wireTo`. */
export function imapIn(id: string, account: string, options: ImapInOptions, wireTo: string): FlowNode {
  return {
    id, z: TAB.id, type: 'm365-imap-in', name: '', account, mailbox: options.mailbox, folder: options.folder,
    mode: options.mode ?? 'idle', interval: 60, criteria: options.criteria ?? 'all', customCriteria: '',
    disposition: 'none', moveTo: '', attachments: options.attachments ?? 'include', attachmentDir: options.attachmentDir ?? '',
    maxAttachmentBytes: options.maxAttachmentBytes ?? 26_214_400, output: 'parsed', batchSize: options.batchSize ?? 100,
    wires: [[wireTo]],
  };
}

/** An m365-pop3-in node wired to `wireTo`. */
export function pop3In(id: string, account: string, mailbox: string, wireTo: string): FlowNode {
  return {
    id, z: TAB.id, type: 'm365-pop3-in', name: '', account, mailbox, mode: 'poll', interval: 300,
    disposition: 'keep', attachments: 'include', attachmentDir: '', maxAttachmentBytes: 26_214_400, output: 'parsed',
    batchSize: 100, wires: [[wireTo]],
  };
}

/** node-red-node-email's "e-mail in" on the bench user (basic auth), IDLE ("auto" fetch). */
export function emailIn(id: string, bed: BenchBed, options: { folder: string; criteria: 'ALL' | 'UNSEEN'; disposition: 'None' | 'Read' }, wireTo: string): FlowNode {
  return {
    id, z: TAB.id, type: 'e-mail in', name: '', protocol: 'IMAP', server: bed.imap.host, useSSL: true, autotls: 'never',
    port: String(bed.imap.port), authtype: 'BASIC', saslformat: true, token: 'oauthToken', box: options.folder,
    disposition: options.disposition, criteria: options.criteria, repeat: '300', fetch: 'auto', inputs: 0,
    credentials: { userid: BENCH_USER.user, password: BENCH_USER.password },
    wires: [[wireTo]],
  };
}

/**
 * A full flow: the tab, the account config node (when given) and `nodes`. Flow nodes get x/y:
 * without them Node-RED takes a node for a config node.
 */
export function flow(bed: BenchBed, nodes: FlowNode[], withAccount = true): FlowNode[] {
  const placed = nodes.map((node, index) => ({ x: 200 + (index % 2) * 300, y: 40 + Math.floor(index / 2) * 40, ...node }));
  return [TAB, ...(withAccount ? [{ ...bed.accountNode(ACCOUNT_ID) }] : []), ...placed];
}

export const ACCOUNT_ID = 'bench-account';
