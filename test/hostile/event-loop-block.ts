/**
 * Measures how long one mail can keep the event loop busy: every mail goes through the whole
 * pipeline (buildMailMessage: parse, text conversion, attachments saved to a folder), fed the way
 * the readers feed it (a Buffer below 1 MiB, else a stream of 64 KiB chunks).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { buildMailMessage } from '../../src/mail';
import type { HostileMail } from './hostile-corpus';

/** The readers hand mails below this over as a Buffer (IMAP watcher's stream threshold). */
const BUFFER_BELOW_BYTES = 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;

/** Real test mails of other projects, read where they lie (never copied into this repository). */
export const SHARED_MIME_CORPUS = process.env.M365_MIME_CORPUS ?? '/work/shared/mime-corpus';

export function sharedCorpus(dir = SHARED_MIME_CORPUS): HostileMail[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => !name.endsWith('.md'))
    .sort()
    .map((name) => ({ name: `shared ${name}`, raw: readFileSync(path.join(dir, name)) }));
}

function asSource(raw: Buffer): Buffer | Readable {
  if (raw.length < BUFFER_BELOW_BYTES) return raw;
  const chunks: Buffer[] = [];
  for (let i = 0; i < raw.length; i += CHUNK_BYTES) chunks.push(raw.subarray(i, i + CHUNK_BYTES));
  return Readable.from(chunks);
}

export interface BlockReport {
  /** Longest event-loop block over all mails, in ms. */
  longestMs: number;
  /** The mail during (or right after) which the longest block was seen. */
  longestAt: string;
  /** Each mail's longest block, longest first. */
  perMail: Array<{ name: string; ms: number; bytes: number }>;
  /** Mails whose pipeline rejected (not a failure: a broken mail may be reported). */
  rejected: number;
}

/** Runs every mail through buildMailMessage, one after the other, and reports the event-loop blocks. */
export async function measureEventLoopBlocks(mails: HostileMail[], attachmentDir: string): Promise<BlockReport> {
  const overall = monitorEventLoopDelay({ resolution: 5 });
  const perMail: BlockReport['perMail'] = [];
  let rejected = 0;
  let longestAt = '';
  let longestNs = 0;
  overall.enable();
  for (const mail of mails) {
    const histogram = monitorEventLoopDelay({ resolution: 5 });
    histogram.enable();
    try {
      await buildMailMessage(asSource(mail.raw), {
        attachments: 'save', attachmentDir, meta: { protocol: 'imap', mailbox: 'hostile@contoso.com', uid: 1, size: mail.raw.length },
      });
    } catch {
      rejected++;
    }
    // Let the histogram take a sample after the last synchronous stretch.
    await new Promise((resolve) => setTimeout(resolve, 15));
    histogram.disable();
    perMail.push({ name: mail.name, ms: histogram.max / 1e6, bytes: mail.raw.length });
    if (overall.max > longestNs) {
      longestNs = overall.max;
      longestAt = mail.name;
    }
  }
  overall.disable();
  perMail.sort((a, b) => b.ms - a.ms);
  return { longestMs: overall.max / 1e6, longestAt, perMail, rejected };
}
