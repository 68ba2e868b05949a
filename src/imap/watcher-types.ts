/**
 * What the IMAP watcher is given and what it tells: its options, callbacks, status and the meta
 * data of a mail. In their own file so the watcher's parts (session, fetch pass, checkpoint keeper)
 * share them without importing the watcher.
 */
import type { Readable } from 'node:stream';
import type { SearchObject } from 'imapflow';
import type { BackoffOptions } from '../core/backoff';
import type { Clock } from '../core/clock';
import type { ErrorKind, M365MailError } from '../core/errors';
import type { Criteria, Disposition, WatchMode } from '../engine/options';
import type { CheckpointStore } from '../state/checkpoint-store';
import type { Checkpoint } from './checkpoint-policy';
import type { ImapConnectionOptions } from './connection';

export type { WatchMode } from '../engine/options';
export type WatcherState = 'connecting' | 'watching' | 'polling' | 'fetching' | 'paused' | 'error' | 'stopped';

export interface WatcherStatus {
  state: WatcherState;
  detail?: string;
  /** Mails handed over by the check that just finished (or found, while fetching). */
  newCount?: number;
  errorKind?: ErrorKind;
}

/** What the watcher knows about a mail when it hands it over. */
export interface MailMeta {
  uid: number;
  uidValidity: number;
  flags: string[];
  size: number;
  folder: string;
  mailbox: string;
}

/** The raw RFC 822 source: a Buffer, or a stream for large mails (read it to the end before resolving). */
export type MailSource = Buffer | Readable;

export interface WatcherWarning {
  kind: 'uidvalidity-changed';
  message: string;
  previous: Checkpoint;
  current: Checkpoint;
}

export interface MailboxWatcherCallbacks {
  /** Builds and sends the message. The mail counts as handed over when this resolves. */
  onMail(source: MailSource, meta: MailMeta): Promise<void>;
  onStatus?(status: WatcherStatus): void;
  onError?(error: M365MailError): void;
  onWarning?(warning: WatcherWarning): void;
}

export interface MailboxWatcherOptions extends ImapConnectionOptions {
  /** Where the checkpoint (and the dispositions still to apply) lives, under `checkpointKey` (chosen by the node). */
  checkpointStore: CheckpointStore;
  checkpointKey: string;
  /** Folder path; default `INBOX`. */
  folder?: string;
  mode?: WatchMode;
  /** Seconds between polls, and between safety re-checks in idle mode; default 60. */
  intervalSec?: number;
  criteria?: Criteria;
  /** imapflow search object for `criteria: 'custom'` (see parseCustomCriteria). */
  customCriteria?: SearchObject;
  /** Most mails handed over per check; a backlog drains batch by batch. Default 100. */
  batchSize?: number;
  disposition?: Disposition;
  moveTo?: string;
  /**
   * Mails larger than this are streamed (download()) instead of buffered. Default 1 MiB. Measured
   * on a 30 MB mail: buffered FETCH peaks at ~71 MB RSS, download() with 512 KiB chunks at ~32 MB
   * (64 KiB chunks: ~25 MB but 2.6× slower).
   */
  streamThresholdBytes?: number;
  /** Chunk size of streamed downloads. Default 512 KiB. */
  downloadChunkBytes?: number;
  /** Complete mails held in memory behind one that is downloaded after its FETCH. Default 16 MiB. */
  holdAfterLargeBytes?: number;
  /** A mail whose onMail keeps failing is skipped after this many attempts. Default 3. */
  maxDeliveryAttempts?: number;
  /** Reconnect this long before the token expires. Default 5 min. */
  renewMarginMs?: number;
  /** NOOP on an otherwise quiet connection (poll/trigger mode) this often. Default 10 min. */
  keepAliveMs?: number;
  backoff?: BackoffOptions;
  clock?: Clock;
}
