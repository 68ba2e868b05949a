/**
 * Adapts imapflow's structured log calls to the watcher's plain logger, redacting credentials.
 * imapflow's own info/error lines describe things the watcher reports itself (connection closed,
 * IDLE broken), so they go to debug; only its warnings (e.g. throttling) stay warnings.
 */
import type { Logger as ImapflowLogger } from 'imapflow';
import type { Logger } from '../core/logger';
import { redactSecrets } from './redact';

interface LogEntry {
  msg?: unknown;
  comment?: unknown;
  cid?: unknown;
  src?: unknown;
  err?: { message?: unknown; code?: unknown };
}

function format(entry: unknown, secrets: Iterable<string>): string {
  if (typeof entry !== 'object' || entry === null) return redactSecrets(String(entry), secrets);
  const e = entry as LogEntry;
  const parts = [
    e.cid ? `[${String(e.cid)}]` : '',
    e.src === 'c' ? 'C:' : e.src === 's' ? 'S:' : '',
    typeof e.msg === 'string' ? e.msg : '',
    typeof e.comment === 'string' ? `(${e.comment})` : '',
    e.err && typeof e.err.message === 'string' ? `: ${e.err.message}` : '',
  ];
  return redactSecrets(parts.filter(Boolean).join(' '), secrets);
}

/**
 * Builds the imapflow logger. `secrets` is read on every call, so the connection can register the
 * token it is about to send. Returns `false` (imapflow logs nothing) without a target.
 */
export function createImapflowLogger(target: Logger | undefined, secrets: () => Iterable<string>): ImapflowLogger | false {
  if (!target || (!target.debug && !target.warn)) return false;
  const debug = (entry: unknown): void => target.debug?.(format(entry, secrets()));
  const warn = (entry: unknown): void => (target.warn ?? target.debug)?.(format(entry, secrets()));
  const debugEnabled = target.debug !== undefined && target.debugEnabled !== false;
  // imapflow asks before it serialises a command or response for the log: without this, every
  // FETCH response (mail source included) was turned into a log line that trace() then dropped.
  const isLevelEnabled = (level: string): boolean => level === 'warn' || level === 'fatal' || (level !== 'trace' && debugEnabled);
  return { trace: () => undefined, debug, info: debug, warn, error: debug, fatal: warn, isLevelEnabled } as ImapflowLogger;
}
