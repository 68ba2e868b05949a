/**
 * What the POP3 poller is given and what it tells: its options, callbacks and status. In their
 * own file (as the IMAP watcher's) so the poller's parts share them without importing the poller.
 */
import type { BackoffOptions } from '../core/backoff';
import type { Clock } from '../core/clock';
import type { ErrorKind, M365MailError } from '../core/errors';
import type { Pop3Disposition, Pop3PollMode } from '../engine/options';
import type { CheckpointStore } from '../state/checkpoint-store';
import type { Pop3MailMeta, Pop3MailSource } from './delivery-pass';
import type { Pop3SessionSettings } from './poll-session';

export type { Pop3Disposition, Pop3PollMode } from '../engine/options';
export type { Pop3MailMeta, Pop3MailSource } from './delivery-pass';
export type Pop3PollerState = 'connecting' | 'polling' | 'fetching' | 'watching' | 'paused' | 'error' | 'stopped';

export interface Pop3PollerStatus {
  state: Pop3PollerState;
  detail?: string;
  /** Mails handed over by the poll that just finished (or waiting, while fetching). */
  newCount?: number;
  errorKind?: ErrorKind;
}

export interface Pop3PollerCallbacks {
  /** Builds and sends the message. The mail counts as handed over when this resolves. */
  onMail(source: Pop3MailSource, meta: Pop3MailMeta): Promise<void>;
  onStatus?(status: Pop3PollerStatus): void;
  onError?(error: M365MailError): void;
}

export interface Pop3PollerOptions extends Pop3SessionSettings {
  /** Whether the account uses an app-only flow (makes fix texts of refused logins concrete). */
  appOnly?: boolean;
  /** Where the record of handed-over UIDLs lives, under `uidlKey` (chosen by the node). */
  uidlStore: CheckpointStore;
  uidlKey: string;
  /** `poll` (default): every `intervalSec`; `trigger`: only on checkNow(). */
  mode?: Pop3PollMode;
  /** Seconds between polls; default 300. */
  intervalSec?: number;
  /** Most mails handed over per poll; a backlog drains poll after poll without waiting. Default 100. */
  batchSize?: number;
  /** `keep` (default) leaves mail on the server; `delete` removes mail once it was handed over. */
  disposition?: Pop3Disposition;
  /** A mail whose onMail keeps failing is skipped after this many attempts. Default 3. */
  maxDeliveryAttempts?: number;
  backoff?: BackoffOptions;
  clock?: Clock;
}
