export { CheckpointStore, type CheckpointStoreOptions, type WarningListener } from './checkpoint-store';
export { loadImapCheckpoint, saveImapCheckpoint, type ImapCheckpoint } from './imap-checkpoint';
export { UidlSet, type UidlSetOptions } from './uidl-set';
