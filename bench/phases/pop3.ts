/**
 * POP3 drain: alice's INBOX (the same `drainSmall` corpus mails) through m365-pop3-in, against a
 * raw RETR loop over one TLS socket that parses each mail the same way (baseline in
 * bench/baselines/pop3-drain.ts). Goal: ≥ 0.9× the raw loop.
 */
import { USERS } from '../../test/env/identity/directory';
import type { BenchBed } from '../bed';
import { BaselineProcess } from '../child';
import type { BenchConfig } from '../config';
import { ACCOUNT_ID, counter, flow, pop3In } from '../flows';
import { startBenchNodeRed } from '../node-red';
import { Results, round } from '../results';
import type { DrainRun } from './drain';

async function rawRetrLoop(bed: BenchBed): Promise<DrainRun> {
  const child = new BaselineProcess('pop3-drain.ts', {
    BENCH_HOST: bed.dovecot.host, BENCH_PORT: String(bed.dovecot.pop3Port), BENCH_USER: USERS.alice, BENCH_TOKEN: bed.aliceToken(),
  });
  try {
    const start = await child.waitFor('start', 30_000);
    const done = await child.waitFor('done');
    const rss = await child.waitFor('rss', 10_000);
    const mails = Number(done.args[0]);
    const seconds = (done.at - start.at) / 1000;
    return { ok: true, mails, seconds, rate: mails / seconds, peakRssMb: Number(rss.args[0]) };
  } catch (error) {
    return { ok: false, mails: 0, error: error instanceof Error ? error.message : String(error) };
  } finally {
    await child.stop();
  }
}

async function nodeDrain(bed: BenchBed, config: BenchConfig, expected: number): Promise<DrainRun> {
  const red = await startBenchNodeRed({ packages: ['ours'] });
  try {
    const deployedAt = await red.deploy(flow(bed, [pop3In('reader', ACCOUNT_ID, USERS.alice, 'counter'), counter('counter', expected)]));
    try {
      const done = await red.waitFor((m) => m.kind === 'done', { idleMs: config.stallMs });
      const seconds = (done.at - deployedAt) / 1000;
      return { ok: true, mails: expected, seconds, rate: expected / seconds, peakRssMb: red.memory()?.peakMb, duplicates: Number(done.args[1] ?? 0) };
    } catch (error) {
      const problems = red.logLines(/\[(error|warn)\]/).filter((l) => /pop3/i.test(l)).slice(-2).map((l) => l.replace(/^.*?\[(error|warn)\]\s*/, '').slice(0, 160));
      return { ok: false, mails: 0, error: `${error instanceof Error ? error.message : String(error)}${problems.length ? `; log: ${problems.join(' | ')}` : ''}` };
    }
  } finally {
    await red.stop();
  }
}

export async function pop3Phase(bed: BenchBed, config: BenchConfig, results: Results): Promise<void> {
  const phase = `POP3 drain ${config.drainSmall.toLocaleString('en-US')}`;
  const raw = await rawRetrLoop(bed);
  const node = await nodeDrain(bed, config, config.drainSmall);
  results.detail(phase, { raw, node });
  results.add({ phase, subject: 'raw RETR loop + simpleParser', value: raw.ok ? raw.rate ?? 0 : 'failed', unit: 'mails/s', note: raw.error });
  const ratio = node.ok && raw.ok ? (node.rate ?? 0) / (raw.rate ?? 1) : NaN;
  results.add({
    phase, subject: 'm365-pop3-in', value: node.ok ? node.rate ?? 0 : 'did not drain', unit: node.ok ? 'mails/s' : '',
    target: Number.isFinite(ratio) ? `${round(ratio)}× raw, goal ≥ 0.9×` : 'goal ≥ 0.9× raw', met: Number.isFinite(ratio) && ratio >= 0.9,
    note: node.ok ? `peak RSS ${round(node.peakRssMb ?? 0)} MB` : node.error,
  });
}
