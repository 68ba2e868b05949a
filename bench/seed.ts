/**
 * Puts the corpus into Dovecot: the first `small` mails into INBOX and the first `large` into
 * Bench20k, for alice (OAuth2 clients) and the bench user (basic auth: node-red-node-email) alike,
 * then lets Dovecot index every folder once so no client pays for the first scan.
 */
import { USERS } from '../test/env/identity/directory';
import { BENCH_USER } from '../test/env/testbed';
import type { BenchBed } from './bed';
import { DRAIN_LARGE_FOLDER, DRAIN_SMALL_FOLDER, drainFolder } from './bed';
import { forEachChunk, type CorpusStats } from './corpus';

export const DRAIN_MAILBOXES = [USERS.alice, BENCH_USER.user];

/** Seeds INBOX (`small`), Bench20k (`large`) and one folder per other size in `more` (drainFolder). */
export async function seedCorpus(bed: BenchBed, small: number, large: number, more: number[] = []): Promise<{ small: CorpusStats; large: CorpusStats; seconds: number }> {
  const started = Date.now();
  const deliver = (folder: string) => async (mails: Buffer[]): Promise<void> => {
    for (const mailbox of DRAIN_MAILBOXES) await bed.dovecot.deliverMany(mailbox, mails, { folder });
  };
  const smallStats = await forEachChunk(0, small, 500, deliver(DRAIN_SMALL_FOLDER));
  const largeStats = await forEachChunk(0, large, 500, deliver(DRAIN_LARGE_FOLDER));
  const extra = [...new Set(more)].map((size) => ({ size, folder: drainFolder(size, { drainSmall: small, drainLarge: large }) }))
    .filter(({ folder }) => folder !== DRAIN_SMALL_FOLDER && folder !== DRAIN_LARGE_FOLDER);
  for (const { size, folder } of extra) await forEachChunk(0, size, 500, deliver(folder));
  await warmFolders(bed, DRAIN_MAILBOXES, [DRAIN_SMALL_FOLDER, DRAIN_LARGE_FOLDER, ...extra.map(({ folder }) => folder)]);
  return { small: smallStats, large: largeStats, seconds: (Date.now() - started) / 1000 };
}

/** Makes Dovecot scan new mail into its index (and read every file once) before anyone measures. */
export async function warmFolders(bed: BenchBed, mailboxes: string[], folders: string[]): Promise<void> {
  for (const mailbox of mailboxes) {
    for (const folder of folders) {
      await bed.dovecot.doveadm(['-f', 'flow', 'fetch', '-u', mailbox, 'uid size.physical', 'mailbox', folder]);
    }
  }
}
