/**
 * Acknowledge after processing: the folder holds N unread mails; m365-imap-in (criteria all,
 * disposition none) drains them through m365-imap-action `read` into the counter, which so counts
 * confirmed acknowledgements. Compared with the same drain without the action node (a fresh
 * Node-RED each, deploy → N-th msg at the counter): acknowledging the whole backlog must take at
 * most 1.2 × the drain's own time, and every mail must be \Seen afterwards. The pair runs
 * `drainRepeat` times, interleaved; the best of each counts (other load on the machine).
 */
import { USERS } from '../../test/env/identity/directory';
import type { BenchBed } from '../bed';
import type { BenchConfig } from '../config';
import { ACCOUNT_ID, counter, flow, imapAction, imapIn } from '../flows';
import { startBenchNodeRed } from '../node-red';
import { Results, round } from '../results';

interface AckRun {
  ok: boolean;
  /** Deploy → the N-th msg at the counter, s. */
  seconds?: number;
  peakRssMb?: number;
  error?: string;
}

async function run(bed: BenchBed, folder: string, expected: number, config: BenchConfig, acknowledge: boolean): Promise<AckRun> {
  const red = await startBenchNodeRed();
  try {
    const reader = imapIn('reader', ACCOUNT_ID, { mailbox: USERS.alice, folder, criteria: 'all' }, acknowledge ? 'ack' : 'counter');
    const nodes = acknowledge ? [reader, imapAction('ack', ACCOUNT_ID, 'read', 'counter'), counter('counter', expected)] : [reader, counter('counter', expected)];
    const deployedAt = await red.deploy(flow(bed, nodes));
    const done = await red.waitFor((m) => m.kind === 'done', { idleMs: config.stallMs });
    return { ok: true, seconds: (done.at - deployedAt) / 1000, peakRssMb: red.memory()?.peakMb };
  } catch (error) {
    const problems = red.logLines(/\[(error|warn)\]/).slice(-3).join(' | ').slice(0, 300);
    return { ok: false, error: `${error instanceof Error ? error.message : String(error)}${problems ? `; log: ${problems}` : ''}` };
  } finally {
    await red.stop();
  }
}

/** Unmarks every mail of `folder`, so each acknowledgement changes a flag. */
async function markUnread(bed: BenchBed, folder: string): Promise<void> {
  await bed.dovecot.doveadm(['flags', 'remove', '-u', USERS.alice, '\\Seen', 'mailbox', folder, 'all']);
}

/** The run that finished first (the one least disturbed by other load on the machine). */
function best(runs: AckRun[]): AckRun {
  return runs.reduce((a, b) => (b.ok && (!a.ok || (b.seconds ?? Infinity) < (a.seconds ?? Infinity)) ? b : a));
}

export async function ackPhase(bed: BenchBed, config: BenchConfig, results: Results, folder: string, expected: number): Promise<void> {
  const phase = `acknowledge ${expected.toLocaleString('en-US')}`;
  const drains: AckRun[] = [];
  const acks: AckRun[] = [];
  let unseen = Infinity;
  for (let r = 0; r < Math.max(1, config.drainRepeat); r++) {
    await markUnread(bed, folder);
    drains.push(await run(bed, folder, expected, config, false));
    await markUnread(bed, folder);
    acks.push(await run(bed, folder, expected, config, true));
    unseen = Math.min(unseen, (await bed.dovecot.folderStatus(USERS.alice, folder)).unseen);
  }
  const drain = best(drains);
  const ack = best(acks);
  results.detail(phase, { drain, ack, unseenAfter: unseen, allRuns: { drain: drains, ack: acks } });
  results.add({ phase, subject: 'drain alone (m365-imap-in → counter)', value: drain.ok ? drain.seconds ?? NaN : 'failed', unit: 's', note: drain.error });
  const ratio = drain.ok && ack.ok ? (ack.seconds ?? NaN) / (drain.seconds ?? NaN) : NaN;
  results.add({
    phase, subject: 'drain through m365-imap-action read (each msg counted once the server confirmed)', value: ack.ok ? ack.seconds ?? NaN : 'failed', unit: 's',
    target: Number.isFinite(ratio) ? `${round(ratio)}× the drain, goal ≤ 1.2×` : 'goal ≤ 1.2× the drain', met: Number.isFinite(ratio) && ratio <= 1.2 && unseen === 0,
    note: ack.ok ? `${unseen} unseen afterwards; peak RSS ${round(ack.peakRssMb ?? NaN)} MB (drain alone ${round(drain.peakRssMb ?? NaN)} MB)` : ack.error,
  });
}
