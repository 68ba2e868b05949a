/**
 * Parsers for the answers of STAT, LIST and UIDL (RFC 1939). They are strict: a line that does not
 * fit is a protocol error, because a poller that silently skipped a message would never fetch it.
 */
import { protocolError } from './errors';

export interface MailboxStat {
  /** Number of messages not marked as deleted. */
  count: number;
  /** Their total size in octets. */
  size: number;
}

const UIDL_PATTERN = /^[\x21-\x7e]{1,70}$/;

function parseNonNegative(word: string | undefined, what: string): number {
  if (word === undefined || !/^\d+$/.test(word)) throw protocolError(`bad ${what}: ${JSON.stringify(word ?? '')}`);
  return Number.parseInt(word, 10);
}

function parseMessageNumber(word: string | undefined, what: string): number {
  const value = parseNonNegative(word, what);
  if (value < 1) throw protocolError(`bad ${what}: ${value}`);
  return value;
}

function words(text: string): string[] {
  return text.trim().split(/\s+/).filter((word) => word.length > 0);
}

/** Parses the text after `+OK` of a STAT answer: `<count> <size>`. */
export function parseStat(text: string): MailboxStat {
  const [count, size] = words(text);
  return { count: parseNonNegative(count, 'STAT count'), size: parseNonNegative(size, 'STAT size') };
}

/** Parses one scan listing `<msgno> <size>` (after `+OK` for `LIST n`, or a line of `LIST`). */
export function parseScanListing(text: string): [msgno: number, size: number] {
  const [msgno, size] = words(text);
  return [parseMessageNumber(msgno, 'LIST message number'), parseNonNegative(size, 'LIST size')];
}

/** Parses one unique-id listing `<msgno> <uidl>` (after `+OK` for `UIDL n`, or a line of `UIDL`). */
export function parseUidListing(text: string): [msgno: number, uidl: string] {
  const [msgno, uidl] = words(text);
  const number = parseMessageNumber(msgno, 'UIDL message number');
  if (uidl === undefined || !UIDL_PATTERN.test(uidl)) throw protocolError(`bad UIDL for message ${number}`);
  return [number, uidl];
}

/** Splits a decoded multi-line body into its lines (CRLF or LF), without a trailing empty line. */
export function bodyLines(body: Buffer): string[] {
  const text = body.toString('utf8');
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}
