/**
 * The option values and defaults the engines accept, taken from the node options table
 * (src/config/options.ts): the engines read their defaults from here, not from literals of their own.
 */
import { NODE_OPTIONS, type ValueOf } from '../config/options';

/** IMAP: push with polling fallback, polling only, or only on an input msg. */
export type WatchMode = ValueOf<'m365-imap-in', 'mode'>;
/** IMAP: which mail qualifies (see checkpoint-policy.ts). */
export type Criteria = ValueOf<'m365-imap-in', 'criteria'>;
/** IMAP: what happens on the server to a mail once it was handed over. */
export type Disposition = ValueOf<'m365-imap-in', 'disposition'>;

/** POP3: every `interval`, or only on an input msg. */
export type Pop3PollMode = ValueOf<'m365-pop3-in', 'mode'>;
/** POP3: leave mail on the server (remembering UIDLs), or delete it once handed over. */
export type Pop3Disposition = ValueOf<'m365-pop3-in', 'disposition'>;

const IMAP = NODE_OPTIONS['m365-imap-in'];
const POP3 = NODE_OPTIONS['m365-pop3-in'];

export const ENGINE_DEFAULTS = {
  imap: { mode: IMAP.mode.default as WatchMode, intervalSec: IMAP.interval.default, criteria: IMAP.criteria.default as Criteria, disposition: IMAP.disposition.default as Disposition },
  pop3: { mode: POP3.mode.default as Pop3PollMode, intervalSec: POP3.interval.default, disposition: POP3.disposition.default as Pop3Disposition },
  /** Most mails handed over per check. */
  batchSize: IMAP.batchSize.default,
  /** A mail whose hand-over keeps failing is skipped after this many attempts. */
  maxDeliveryAttempts: 3,
} as const;
