/**
 * Memory: the drains again with the V8 heap capped (as on small boards), for m365-imap-in and
 * for node-red-node-email, and one mail with a big attachment through m365-imap-in (content
 * kept in the msg: maxAttachmentBytes 0 = no limit) — peak RSS against the attachment's size.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { USERS } from '../../test/env/identity/directory';
import { BENCH_USER } from '../../test/env/testbed';
import { BIG_FOLDER, DRAIN_LARGE_FOLDER, DRAIN_SMALL_FOLDER, type BenchBed } from '../bed';
import type { BenchConfig } from '../config';
import { ACCOUNT_ID, counter, emailIn, flow, imapIn } from '../flows';
import { startBenchNodeRed } from '../node-red';
import { Results, round } from '../results';
import { drainWithNodeRed, type DrainRun } from './drain';

/**
 * Capped-heap drains; each is a completion test (rates are noted, not compared). The long
 * 20,000-mail one runs beside `alongside` (the token phase, which mostly waits), to save time.
 */
export async function cappedDrainPhase(bed: BenchBed, config: BenchConfig, results: Results, alongside?: () => Promise<void>): Promise<void> {
  const cap = [`--max-old-space-size=${config.smallHeapMb}`];
  const phase = `heap capped at ${config.smallHeapMb} MB`;
  const runs: Record<string, DrainRun> = {};
  const record = (size: number, run: DrainRun, concurrent: boolean): void => {
    runs[`m365-imap-in ${size}`] = run;
    results.add({
      phase, subject: `m365-imap-in drains ${size.toLocaleString('en-US')}`, value: run.ok ? `completed, peak ${round(run.peakRssMb ?? 0)} MB` : `failed after ${run.mails}`, unit: '',
      target: 'goal: completes, no crash', met: run.ok, note: run.ok ? `${round(run.rate ?? 0)} mails/s${concurrent ? ', ran beside the token phase' : ''}` : run.error,
    });
  };
  record(config.drainSmall, await drainWithNodeRed(bed, 'm365-imap-in', DRAIN_SMALL_FOLDER, config.drainSmall, config, cap), false);
  const theirs = await drainWithNodeRed(bed, 'e-mail in', DRAIN_SMALL_FOLDER, config.drainSmall, config, cap);
  runs[`e-mail in ${config.drainSmall}`] = theirs;
  results.add({
    phase, subject: `node-red-node-email drains ${config.drainSmall.toLocaleString('en-US')}`, value: theirs.ok ? `completed, peak ${round(theirs.peakRssMb ?? 0)} MB` : `failed after ${theirs.mails}`, unit: '',
    note: theirs.ok ? `${round(theirs.rate ?? 0)} mails/s` : theirs.error,
  });
  // The companion starts once the drain has its token (with the bed's normal lifetime): the token
  // phase shortens the lifetime, and the drain must neither renew nor be counted there.
  let companion: Promise<void> | undefined;
  const large = await drainWithNodeRed(bed, 'm365-imap-in', DRAIN_LARGE_FOLDER, config.drainLarge, config, cap, () => {
    companion = alongside?.();
  });
  await companion;
  record(config.drainLarge, large, alongside !== undefined);
  results.detail(phase, runs);
}

/** One mail whose attachment is `mb` MB of binary data (base64 on the wire). */
export function bigMail(mb: number): Buffer {
  const data = Buffer.alloc(mb * 1024 * 1024);
  for (let i = 0; i < data.length; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i);
  const base64 = data.toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from([
    'From: Scanner <scanner@example.com>', `To: ${USERS.alice}`, `Subject: big attachment ${mb} MB`,
    `Message-ID: <big-${mb}@bench.example>`, 'Date: Mon, 23 Nov 2026 10:00:00 +0000', 'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="big"', '', '--big', 'Content-Type: text/plain; charset=utf-8', '', 'See the scan.',
    '--big', 'Content-Type: application/pdf; name="scan.pdf"', 'Content-Transfer-Encoding: base64',
    'Content-Disposition: attachment; filename="scan.pdf"', '', base64, '--big--', '',
  ].join('\r\n'));
}

export async function bigAttachmentPhase(bed: BenchBed, config: BenchConfig, results: Results): Promise<void> {
  const mail = bigMail(config.bigAttachmentMb);
  await bed.dovecot.deliver(USERS.alice, mail, { folder: BIG_FOLDER });
  await bed.dovecot.deliver(BENCH_USER.user, mail, { folder: BIG_FOLDER });
  const phase = `one ${config.bigAttachmentMb} MB attachment`;
  const detail: Record<string, unknown> = { mailBytes: mail.length };
  for (const subject of ['m365-imap-in', 'm365-imap-in (save)', 'e-mail in'] as const) {
    const ours = subject !== 'e-mail in';
    const red = await startBenchNodeRed({ packages: [ours ? 'ours' : 'email'] });
    const saveDir = mkdtempSync(path.join(os.tmpdir(), 'm365-bench-save-'));
    try {
      const idle = red.memory()?.rssMb ?? 0;
      const reader = ours
        ? imapIn('reader', ACCOUNT_ID, {
          mailbox: USERS.alice, folder: BIG_FOLDER, criteria: 'all', maxAttachmentBytes: 0,
          ...(subject === 'm365-imap-in (save)' ? { attachments: 'save', attachmentDir: saveDir } : {}),
        }, 'counter')
        : emailIn('reader', bed, { folder: BIG_FOLDER, criteria: 'ALL', disposition: 'None' }, 'counter');
      const deployedAt = await red.deploy(flow(bed, [reader, counter('counter', 1)], ours));
      let ok = true;
      let error: string | undefined;
      let seconds = NaN;
      try {
        const done = await red.waitFor((m) => m.kind === 'done', { idleMs: config.stallMs * 2 });
        seconds = (done.at - deployedAt) / 1000;
      } catch (err) {
        ok = false;
        error = err instanceof Error ? err.message : String(err);
      }
      const peak = red.memory()?.peakMb ?? NaN;
      const growth = peak - idle;
      detail[subject] = { ok, idle, peak, growth, seconds, error };
      if (subject === 'm365-imap-in') {
        const ratio = growth / config.bigAttachmentMb;
        results.add({
          phase, subject: 'm365-imap-in peak RSS', value: peak, unit: 'MB', note: ok ? `idle ${round(idle)} MB, +${round(growth)} MB, ${round(seconds)} s` : error,
          target: `growth ${round(ratio)}× the attachment, goal < 3×`, met: ok && ratio < 3,
        });
      } else if (subject === 'm365-imap-in (save)') {
        results.add({ phase, subject: 'm365-imap-in peak RSS, attachments: save', value: peak, unit: 'MB', note: ok ? `idle ${round(idle)} MB, +${round(growth)} MB (${round(growth / config.bigAttachmentMb)}×), ${round(seconds)} s` : error });
      } else {
        results.add({ phase, subject: 'node-red-node-email peak RSS', value: peak, unit: 'MB', note: ok ? `idle ${round(idle)} MB, +${round(growth)} MB, ${round(seconds)} s` : error });
      }
    } finally {
      await red.stop();
      rmSync(saveDir, { recursive: true, force: true });
    }
  }
  results.detail(phase, detail);
}
