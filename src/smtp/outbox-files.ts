/**
 * The outbox's files in its folder, and nothing else: which mails a folder holds, by name alone.
 *
 * - A segment `<first>-<last>.mails` holds the mails `first..last` written in one group commit,
 *   one JSON line each (`{"v":1,"seq":…}`), in order. Written to a temp file, fsynced and renamed,
 *   so a segment is complete or absent; its name says which mails it holds without reading it.
 * - `<seq>.mail` is one mail alone, the layout before segments (read, never written any more).
 * - `done` holds the watermark: every mail up to that sequence number was sent or refused. The
 *   drain only ever finishes the oldest mail, so one number says what is finished; it is rewritten
 *   in place after each 250 (no fsync: a kill keeps it, the kernel has it). A segment whose mails
 *   are all at or below it is deleted.
 */
import { closeSync, constants, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';

export interface SegmentFile {
  name: string;
  first: number;
  last: number;
}

const SEGMENT_NAME = /^(\d{12})-(\d{12})\.mails$/;
const SINGLE_NAME = /^(\d{12})\.mail$/;
export const WATERMARK_FILE = 'done';
/** The watermark's fixed width: rewriting it in place never leaves a longer old number behind. */
const WATERMARK_DIGITS = 15;

function pad(seq: number): string {
  return String(seq).padStart(12, '0');
}

export function segmentName(first: number, last: number): string {
  return `${pad(first)}-${pad(last)}.mails`;
}

/** Where the line of a mail that could not be read is kept (never read as a mail again). */
export function setAsideName(seq: number): string {
  return `${pad(seq)}.mail.bad`;
}

/** The mails a file name stands for; undefined for any other file. */
export function parseSegmentName(name: string): SegmentFile | undefined {
  const segment = SEGMENT_NAME.exec(name);
  if (segment) {
    const first = Number(segment[1]);
    const last = Number(segment[2]);
    return first > 0 && last >= first ? { name, first, last } : undefined;
  }
  const single = SINGLE_NAME.exec(name);
  if (single && Number(single[1]) > 0) return { name, first: Number(single[1]), last: Number(single[1]) };
  return undefined;
}

/** The segments among a folder's names, oldest first. */
export function segmentsIn(names: string[]): SegmentFile[] {
  return names.map(parseSegmentName).filter((s): s is SegmentFile => s !== undefined).sort((a, b) => a.first - b.first);
}

/** A mail's line starts with its format and sequence number: `{"v":1,"seq":17,…`. */
const LINE_START = /^\{"v":\d+,"seq":(\d+),/;

/** A segment's lines by sequence number (a line that does not start like a mail is skipped). */
export function linesBySeq(content: string): Map<number, string> {
  const lines = new Map<number, string>();
  for (const line of content.split('\n')) {
    const seq = LINE_START.exec(line)?.[1];
    if (seq !== undefined) lines.set(Number(seq), line);
  }
  return lines;
}

/** The watermark's text; a missing or unreadable one is 0 (nothing finished: resend rather than lose). */
export function parseWatermark(text: string | undefined): number {
  const value = Number((text ?? '').trim());
  return Number.isSafeInteger(value) && value > 0 ? value : 0;
}

export function readWatermark(dir: string): number {
  try {
    return parseWatermark(readFileSync(path.join(dir, WATERMARK_FILE), 'latin1'));
  } catch {
    return 0;
  }
}

/**
 * The watermark file, kept open: one positioned write of a few bytes per finished mail, done
 * synchronously on purpose. It lands in the page cache at once (so a kill -9 right after keeps
 * it) and the drain need not queue behind the intake's fsyncs on libuv's thread pool.
 */
export class WatermarkFile {
  private fd?: number;

  constructor(private readonly dir: string) {}

  write(seq: number): void {
    this.fd ??= openSync(path.join(this.dir, WATERMARK_FILE), constants.O_RDWR | constants.O_CREAT, 0o600);
    writeSync(this.fd, `${String(seq).padStart(WATERMARK_DIGITS, '0')}\n`, 0, 'latin1');
  }

  close(): void {
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) closeSync(fd);
  }
}

/** How many mails an outbox folder holds, from its names and watermark alone (tests, benchmarks). */
export function storedMailCount(dir: string): number {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  const done = readWatermark(dir);
  return segmentsIn(names).reduce((sum, s) => sum + Math.max(0, s.last - Math.max(s.first, done + 1) + 1), 0);
}
