/** Mailbox watching over IMAP (m365-imap-in), without Node-RED. */
export { MailboxWatcher } from './watcher';
export type {
  MailboxWatcherOptions, MailboxWatcherCallbacks, MailMeta, MailSource, WatchMode, WatcherState, WatcherStatus, WatcherWarning,
} from './watcher-types';
export type { Checkpoint, Criteria } from './checkpoint-policy';
export { parseCustomCriteria } from './checkpoint-policy';
export type { Disposition } from './dispositions';
export { listFolders, type FolderInfo } from './folders';
export type { ImapConnectionOptions, ImapClientFactory } from './connection';
export { toImapError } from './errors';
