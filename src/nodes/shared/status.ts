import type { Node, NodeStatus } from 'node-red';
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
