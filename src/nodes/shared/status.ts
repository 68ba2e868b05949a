import type { Node, NodeStatus } from 'node-red';
import { systemClock, type Clock } from '../../core/clock';
import type { ErrorKind } from '../../core/errors';

/** The few node states users see. */
export type StatusState =
  | 'configured' | 'connecting' | 'watching' | 'polling' | 'fetching' | 'new'
  | 'paused' | 'signed-out' | 'signed-in' | 'error' | 'stopped' | 'clear'
  // m365-imap-action: actions waiting for the server / confirmed by it
  | 'pending' | 'done';

export interface StatusUpdate {
  state: StatusState;
  errorKind?: ErrorKind;
  count?: number;
  /** Free detail (never a secret), shown after the state. */
  detail?: string;
}

export type Translate = (key: string, values?: Record<string, string | number>) => string;

/**
 * Maps a StatusUpdate to Node-RED's status: yellow ring = connecting, green dot = working,
 * blue dot = new mail, grey ring = idle/paused, red ring = error (the core MQTT node's conventions).
 * Texts come from the "common" part every catalogue shares, so all nodes say the same thing.
 */
export function toNodeStatus(update: StatusUpdate, t: Translate): NodeStatus {
  const text = (key: string, values?: Record<string, string | number>): string => {
    const base = t(`common.status.${key}`, values);
    return update.detail ? `${base}: ${update.detail}` : base;
  };
  switch (update.state) {
    case 'clear':
      return {};
    case 'connecting':
      return { fill: 'yellow', shape: 'ring', text: text('connecting') };
    case 'watching':
    case 'polling':
    case 'fetching':
    case 'signed-in':
      return { fill: 'green', shape: 'dot', text: text(update.state) };
    case 'new':
      return { fill: 'blue', shape: 'dot', text: text('new', { count: update.count ?? 0 }) };
    case 'pending':
      return { fill: 'blue', shape: 'ring', text: text('pending', { count: update.count ?? 0 }) };
    case 'done':
      return { fill: 'green', shape: 'dot', text: text('done', { count: update.count ?? 0 }) };
    case 'paused':
    case 'configured':
    case 'stopped':
    case 'signed-out':
      return { fill: 'grey', shape: 'ring', text: text(update.state) };
    case 'error':
      return { fill: 'red', shape: 'ring', text: t(`common.errorKind.${update.errorKind ?? "unknown"}`) };
  }
}

/** Sets the status of a node. */
export function showStatus(node: Node, update: StatusUpdate, t: Translate): void {
  node.status(toNodeStatus(update, t));
}

/**
 * Paces a reader's "N new" progress while a pass fetches: a count that merely went down is shown
 * at most every `intervalMs` (each one costs a translation and a status event to every editor).
 * Any other status (the count a pass ends with included) is shown at once and lets the next count
 * through: see readerStatusUpdate.
 */
export class NewCountPacer {
  private lastCountAt = -Infinity;

  constructor(private readonly intervalMs = 250, private readonly clock: Pick<Clock, 'now'> = systemClock) {}

  /** Whether a progress count is to be shown now. */
  countDue(): boolean {
    const now = this.clock.now();
    if (now - this.lastCountAt < this.intervalMs) return false;
    this.lastCountAt = now;
    return true;
  }

  /** Another status was shown: the next count is due at once. */
  otherState(): void {
    this.lastCountAt = -Infinity;
  }
}

/** A reader engine's status (IMAP watcher, POP3 poller), as its node receives it. */
export interface ReaderEngineStatus {
  state: string;
  /** Mails still to come while `fetching`; mails delivered when a pass ends. */
  newCount?: number;
  errorKind?: ErrorKind;
  detail?: string;
}

const READER_STATES: StatusState[] = ['connecting', 'watching', 'polling', 'fetching', 'paused', 'stopped', 'error'];

/**
 * What a reader node shows for its engine's status, or undefined when nothing is to change: the
 * counts of a pass that is fetching are paced, while the count a pass ends with, an error and any
 * other state show at once.
 */
export function readerStatusUpdate(status: ReaderEngineStatus, pacer: NewCountPacer, lastErrorKind?: ErrorKind): StatusUpdate | undefined {
  const count = status.newCount ?? 0;
  if (status.state === 'fetching' && count > 0) return pacer.countDue() ? { state: 'new', count } : undefined;
  pacer.otherState();
  if (status.state === 'error') return { state: 'error', errorKind: status.errorKind ?? lastErrorKind };
  if (count > 0) return { state: 'new', count };
  return (READER_STATES as string[]).includes(status.state) ? { state: status.state as StatusState } : undefined;
}
