/**
 * The option values and defaults the engines accept, in one place: the node options table feeds
 * these types, and the engines read their defaults from here (not from literals of their own).
 */

/** IMAP: push with polling fallback, polling only, or only on an input msg. */
export type WatchMode = 'idle' | 'poll' | 'trigger';
/** IMAP: which mail qualifies (see checkpoint-policy.ts). */
export type Criteria = 'new' | 'all' | 'unseen' | 'custom';
/** IMAP: what happens on the server to a mail once it was handed over. */
export type Disposition = 'none' | 'read' | 'flag' | 'move' | 'delete';

/** POP3: every `interval`, or only on an input msg. */
export type Pop3PollMode = 'poll' | 'trigger';
/** POP3: leave mail on the server (remembering UIDLs), or delete it once handed over. */
export type Pop3Disposition = 'keep' | 'delete';

export const ENGINE_DEFAULTS = {
  imap: { mode: 'idle' as WatchMode, intervalSec: 60, criteria: 'new' as Criteria, disposition: 'none' as Disposition },
  pop3: { mode: 'poll' as Pop3PollMode, intervalSec: 300, disposition: 'keep' as Pop3Disposition },
  /** Most mails handed over per check. */
  batchSize: 100,
  /** A mail whose hand-over keeps failing is skipped after this many attempts. */
  maxDeliveryAttempts: 3,
} as const;
