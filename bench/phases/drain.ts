/**
 * Drain: the folder already holds N mails; how fast does each client hand all of them over?
 * - imapflow script (baseline a): child process, one FETCH 1:*, simpleParser per mail.
 * - m365-imap-in: real Node-RED process, criteria all, until the counter saw N distinct mails;
 *   timed from the deploy request (so connect + token + login are included, as for the script).
 * - node-red-node-email "e-mail in" (baseline b): same, basic auth on the bench user's copy.
 * Peak RSS (VmHWM) of each Node-RED process is recorded with it; the memory phase repeats the
 * drains with a capped V8 heap.
 */
import { USERS } from '../../test/env/identity/directory';
import { drainFolder, throughRelay, type BenchBed } from '../bed';
import { BaselineProcess } from '../child';
import type { DelayProxy, LinkStats } from '../delay-proxy';
import type { BenchConfig } from '../config';
import { ACCOUNT_ID, counter, emailIn, flow, imapIn } from '../flows';
import { startBenchNodeRed } from '../node-red';
import { median, Results, round } from '../results';

export interface DrainRun {
  ok: boolean;
  mails: number;
  seconds?: number;
  rate?: number;
  peakRssMb?: number;
  /** RSS of the idle process: Node-RED before the deploy, the script once logged in (before any mail). */
  baseRssMb?: number;
  error?: string;
  /** Messages emitted again (same Message-ID). */
  duplicates?: number;
  /** Seconds from the start (deploy / script start) to the first mail: connect, token, login, first FETCH. */
  firstSeconds?: number;
  /** Mails/s from the first mail to the last, without the start-up. */
  steadyRate?: number;
  /** The relay's view of this run's connections, when it ran through one. */
  links?: LinkStats[];
}

/** Start-up and steady rate from the times of start, first mail and last mail (ms). */
function phases(startAt: number, firstAt: number | undefined, doneAt: number, mails: number): Pick<DrainRun, 'firstSeconds' | 'steadyRate'> {
  if (firstAt === undefined || doneAt <= firstAt) return {};
  return { firstSeconds: (firstAt - startAt) / 1000, steadyRate: (mails - 1) / ((doneAt - firstAt) / 1000) };
}

/** Baseline (a) on `folder` of alice. */
export async function drainWithImapflow(bed: BenchBed, folder: string, expected: number): Promise<DrainRun> {
  const child = new BaselineProcess('imapflow-drain.ts', {
    BENCH_HOST: bed.imap.host, BENCH_PORT: String(bed.imap.port), BENCH_USER: USERS.alice,
    BENCH_TOKEN: bed.aliceToken(), BENCH_FOLDER: folder, BENCH_EXPECTED: String(expected),
  });
  try {
    const start = await child.waitFor('start', 30_000);
    const done = await child.waitFor('done');
    const rss = await child.waitFor('rss', 10_000);
    const first = child.markers.find((m) => m.kind === 'first');
    const idle = child.markers.find((m) => m.kind === 'idle');
    const mails = Number(done.args[0]);
    const seconds = (done.at - start.at) / 1000;
    return {
      ok: mails === expected, mails, seconds, rate: mails / seconds, peakRssMb: Number(rss.args[0]), baseRssMb: idle ? Number(idle.args[0]) : undefined,
      ...phases(start.at, first?.at, done.at, mails),
    };
  } catch (error) {
    return { ok: false, mails: 0, error: error instanceof Error ? error.message : String(error) };
  } finally {
    await child.stop();
  }
}

export type DrainSubject = 'm365-imap-in' | 'e-mail in';

/** Drains `folder` through a real Node-RED with one reader node; `nodeArgs` e.g. a heap cap. */
export async function drainWithNodeRed(bed: BenchBed, subject: DrainSubject, folder: string, expected: number, config: BenchConfig, nodeArgs: string[] = [], onFirstMail?: () => void): Promise<DrainRun> {
  const red = await startBenchNodeRed({ nodeArgs, packages: [subject === 'm365-imap-in' ? 'ours' : 'email'] });
  try {
    const baseRssMb = red.memory()?.rssMb;
    const reader = subject === 'm365-imap-in'
      ? imapIn('reader', ACCOUNT_ID, { mailbox: USERS.alice, folder, criteria: 'all' }, 'counter')
      : emailIn('reader', bed, { folder, criteria: 'ALL', disposition: 'None' }, 'counter');
    const deployedAt = await red.deploy(flow(bed, [reader, counter('counter', expected)], subject === 'm365-imap-in'));
    if (onFirstMail) red.waitFor((m) => m.kind === 'first', { timeoutMs: 120_000 }).then(onFirstMail, onFirstMail);
    try {
      // node-red-node-email fails a 20,000-mail folder with "UID FETCH: Too long argument" and then
      // waits for its next poll (300 s): no need to wait for the stall timeout.
      const done = await red.waitFor((m) => m.kind === 'done', { idleMs: config.stallMs, failOn: /Too long argument/ });
      const seconds = (done.at - deployedAt) / 1000;
      const duplicates = Number(done.args[1] ?? 0);
      // Duplicates do not make a drain fail; they are reported beside the rate.
      const first = red.markers.find((m) => m.kind === 'first');
      return {
        ok: true, mails: expected, seconds, rate: expected / seconds, peakRssMb: red.memory()?.peakMb, baseRssMb,
        duplicates, ...phases(deployedAt, first?.at, done.at, expected),
        ...(duplicates ? { error: `emitted ${duplicates} mails twice` } : {}),
      };
    } catch (error) {
      const progress = red.markers.filter((m) => m.kind === 'progress').pop();
      const seen = red.markers.some((m) => m.kind === 'first') ? Number(progress?.args[0] ?? 1) : 0;
      const problems = red.logLines(/\[(error|warn)\]|heap out of memory|FATAL|Too long/i).slice(-3).map((l) => l.replace(/^.*?\[(error|warn)\]\s*/, '').slice(0, 160));
      return {
        ok: false, mails: seen, peakRssMb: red.memory()?.peakMb, baseRssMb,
        error: `${error instanceof Error ? error.message : String(error)}${problems.length ? `; log: ${problems.join(' | ')}` : ''}`,
      };
    }
  } finally {
    await red.stop();
  }
}

function describe(run: DrainRun): string {
  return run.ok ? `${round(run.rate ?? 0)}` : `failed after ${run.mails} mails`;
}

/** The run with the best steady rate (the one least disturbed by other load on the machine). */
function best(runs: DrainRun[]): DrainRun {
  const score = (run: DrainRun): number => (run.ok ? run.steadyRate ?? run.rate ?? 0 : -1);
  return runs.reduce((a, b) => (score(b) > score(a) ? b : a));
}

/**
 * Ours ÷ the script's steady rate of each interleaved pair (run back to back, so under about the
 * same load from the rest of the machine); empty when a run failed. The goal takes the median:
 * one pair disturbed by other work on the machine, in either direction, does not decide it.
 */
function pairRatios(raws: DrainRun[], nodes: DrainRun[]): number[] {
  const ratios = raws.map((raw, i) => (raw.ok && nodes[i]?.ok && raw.steadyRate && nodes[i].steadyRate ? (nodes[i].steadyRate as number) / raw.steadyRate : NaN));
  return ratios.every(Number.isFinite) ? ratios : [];
}

/** Peak RSS over the process's own idle RSS (Node-RED before the deploy, the script once logged in). */
export function rssGrowth(run: DrainRun): number {
  return run.peakRssMb !== undefined && run.baseRssMb !== undefined ? run.peakRssMb - run.baseRssMb : NaN;
}

/** Runs `drain` and records the relay's connections it opened on the run. */
async function observed(wire: DelayProxy | undefined, drain: () => Promise<DrainRun>): Promise<DrainRun> {
  const before = wire?.links.length ?? 0;
  const run = await drain();
  return wire ? { ...run, links: wire.links.slice(before) } : run;
}

/** "N connections, M client flights" of a run through the relay. */
function wireNote(run: DrainRun): string {
  if (!run.links) return '';
  const flights = run.links.reduce((sum, link) => sum + link.flights['to-server'], 0);
  return `; ${run.links.length} connection(s), ${flights} client flights`;
}

export interface DrainPhaseOptions {
  /** Interleaved pairs of (a) and m365-imap-in: the goal takes the median of their ratios, the table the best run of each. */
  repeat?: number;
  /** The relay the bed's IMAP endpoint points at (for its round-trip counts). */
  wire?: DelayProxy;
}

/**
 * Runs the three drains for one folder size and records rates, ratios and peak RSS. The goal
 * compares the steady rates (first mail to last), as the issue measures them; the rate from the
 * deploy (connect, token and login included) is shown beside it.
 */
export async function drainPhase(bed: BenchBed, config: BenchConfig, results: Results, folder: string, expected: number, options: DrainPhaseOptions = {}): Promise<Record<string, DrainRun>> {
  const wire = options.wire;
  const phase = `drain ${expected.toLocaleString('en-US')}${wire ? `, ${wire.delayMs} ms each way` : ''}`;
  const raws: DrainRun[] = [];
  const nodes: DrainRun[] = [];
  for (let r = 0; r < Math.max(1, options.repeat ?? 1); r++) {
    raws.push(await observed(wire, () => drainWithImapflow(bed, folder, expected)));
    nodes.push(await observed(wire, () => drainWithNodeRed(bed, 'm365-imap-in', folder, expected, config)));
  }
  const raw = best(raws);
  const node = best(nodes);
  const email: DrainRun = config.skipEmail
    ? { ok: false, mails: 0, error: 'skipped (BENCH_SKIP_EMAIL=1)' }
    : await observed(wire, () => drainWithNodeRed(bed, 'e-mail in', folder, expected, config));
  results.detail(phase, { delayMs: wire?.delayMs, raw, node, email, allRuns: { raw: raws, node: nodes } });
  const steady = (run: DrainRun): string => (run.steadyRate ? `steady ${round(run.steadyRate)} mails/s, ` : '');
  const startUp = (run: DrainRun): string => (run.firstSeconds !== undefined ? `start to first mail ${round(run.firstSeconds)} s` : '');
  results.add({ phase, subject: 'imapflow script (a)', value: raw.ok ? raw.rate ?? 0 : describe(raw), unit: 'mails/s', note: raw.error ?? `${steady(raw)}${startUp(raw)}${wireNote(raw)}` });
  results.add({ phase, subject: 'node-red-node-email (b)', value: email.ok ? email.rate ?? 0 : describe(email), unit: email.ok ? 'mails/s' : '', note: email.error ?? `${steady(email)}${startUp(email)}${wireNote(email)}` });
  const pairs = pairRatios(raws, nodes);
  const ratio = median(pairs);
  const bestRatio = node.ok && raw.ok ? (node.steadyRate ?? 0) / (raw.steadyRate ?? Infinity) : NaN;
  const deployRatio = node.ok && raw.ok ? (node.rate ?? 0) / (raw.rate ?? Infinity) : NaN;
  const ratioText = pairs.length > 1 ? `steady ${round(ratio)}× (a), median of ${pairs.length} pairs` : `steady ${round(ratio)}× (a)`;
  results.add({
    phase, subject: 'm365-imap-in', value: node.ok ? node.rate ?? 0 : describe(node), unit: 'mails/s',
    target: Number.isFinite(ratio) ? `${ratioText}, goal ≥ 0.95×` : 'steady rate goal ≥ 0.95× (a): a run failed', met: Number.isFinite(ratio) && ratio >= 0.95,
    note: node.error ?? `${steady(node)}${startUp(node)}; ${raws.length > 1 ? `pairs ${pairs.length ? pairs.map(round).join(' / ') : '—'}×, best against best ${round(bestRatio)}×; ` : ''}deploy → last mail ${round(deployRatio)}× (a)${email.ok ? `, ${round((node.rate ?? 0) / (email.rate ?? Infinity))}× (b)` : ''}${wireNote(node)}`,
  });
  const growth = { ours: rssGrowth(node), script: rssGrowth(raw) };
  results.add({
    phase, subject: 'peak RSS m365-imap-in', value: node.peakRssMb ?? NaN, unit: 'MB',
    target: `growth over idle ${round(growth.ours)} MB vs script ${round(growth.script)} MB; goal ≤ script`, met: growth.ours <= growth.script,
    note: `idle ${round(node.baseRssMb ?? NaN)} MB; script peak ${round(raw.peakRssMb ?? NaN)} MB, idle ${round(raw.baseRssMb ?? NaN)} MB (logged in, before FETCH)`,
  });
  results.add({ phase, subject: 'peak RSS e-mail in', value: email.peakRssMb ?? NaN, unit: 'MB', note: email.baseRssMb ? `idle ${round(email.baseRssMb)} MB` : undefined });
  return { raw, node, email };
}

/** The drain of `size` mails through a relay that delays each direction by `delayMs`. */
export async function drainAtDelay(bed: BenchBed, config: BenchConfig, results: Results, delayMs: number, size: number): Promise<Record<string, DrainRun>> {
  return throughRelay(bed, delayMs, (relayed, wire) => drainPhase(relayed, config, results, drainFolder(size, config), size, { repeat: config.drainRepeat, wire }));
}
