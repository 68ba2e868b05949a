/**
 * Push latency: a mail is written into the folder (the instant Dovecot can see it) and we time
 * how long until each watcher emitted it. Three watchers run at once, each in its own process:
 * m365-imap-in (IDLE) on alice, node-red-node-email (IDLE, UNSEEN + mark read) on the bench
 * user, and a minimal raw imapflow IDLE client on support (each watcher its own mailbox). The next
 * mail goes in only after all three saw the last one (plus a short random gap of 20–80 ms, and
 * three times the one-way delay, so every watcher is idling again).
 * It runs once per delay of BENCH_DELAYS, every watcher reaching Dovecot through the delay relay.
 */
import { USERS } from '../../test/env/identity/directory';
import { BENCH_USER } from '../../test/env/testbed';
import { LATENCY_FOLDER, throughRelay, type BenchBed } from '../bed';

/** The plain imapflow watcher's mailbox (ours watches alice's, node-red-node-email the bench user's). */
const RAW_MAILBOX = USERS.support;
import { preciseNow } from '../baselines/markers';
import { BaselineProcess } from '../child';
import type { BenchConfig } from '../config';
import { ACCOUNT_ID, emailIn, flow, imapIn, stamper } from '../flows';
import { startBenchNodeRed, type BenchNodeRed, type Marker } from '../node-red';
import { quantile, Results, round, seededRandom, sleep } from '../results';

export function latencyMail(tag: string, index: number): string {
  return [
    'From: Latency Probe <probe@example.com>', `To: ${USERS.alice}`, `Subject: latency ${tag} ${index}`,
    `Message-ID: <${tag}-${index}@latency.example>`, `Date: ${new Date().toUTCString()}`,
    'Content-Type: text/plain; charset=utf-8', '', `Probe ${index}: how long from delivery to msg?`, '',
  ].join('\r\n');
}

/** Waits until a marker with `id` arrived from `source` (a Node-RED or a baseline process). */
export function seen(source: BenchNodeRed | BaselineProcess, id: string, timeoutMs: number): Promise<Marker | undefined> {
  const match = (m: Marker): boolean => m.kind === 'msg' && m.args[0] === id;
  const earlier = source.markers.find(match);
  if (earlier) return Promise.resolve(earlier);
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const onMarker = (m: Marker): void => {
      if (match(m)) finish(m);
    };
    const finish = (m: Marker | undefined): void => {
      clearTimeout(timer);
      source.off('marker', onMarker);
      resolve(m);
    };
    source.on('marker', onMarker);
  });
}

export interface LatencyFigures {
  p50: number;
  p95: number;
  max: number;
  missed: number;
  samples: number[];
}

/** Figures in ms to 0.1 ms: the markers carry sub-millisecond wall time. */
function figures(samples: number[], missed: number): LatencyFigures {
  const tenth = (ms: number): number => Math.round(ms * 10) / 10;
  return { p50: tenth(quantile(samples, 0.5)), p95: tenth(quantile(samples, 0.95)), max: tenth(Math.max(...samples)), missed, samples: samples.map(tenth) };
}

export interface LatencyResult {
  figures: Record<string, LatencyFigures>;
  oursRssMb?: number;
}

/** The latency phase at every delay of `config.delays`; resolves with the first (no delay) for the scale phase. */
export async function latencyAtDelays(bed: BenchBed, config: BenchConfig, results: Results): Promise<LatencyResult> {
  const all: LatencyResult[] = [];
  for (const delayMs of config.delays) all.push(await throughRelay(bed, delayMs, (relayed) => latencyPhase(relayed, config, results, delayMs)));
  return all[0];
}

/** Push latency of the three watchers, reaching IMAP at `bed.imap` (a relay delaying each way by `delayMs`). */
export async function latencyPhase(bed: BenchBed, config: BenchConfig, results: Results, delayMs = 0): Promise<LatencyResult> {
  const ours = await startBenchNodeRed({ packages: ['ours'] });
  const theirs = await startBenchNodeRed({ packages: ['email'] });
  const raw = new BaselineProcess('imapflow-idle.ts', {
    BENCH_HOST: bed.imap.host, BENCH_PORT: String(bed.imap.port), BENCH_USER: RAW_MAILBOX,
    BENCH_TOKEN: bed.tokenFor(RAW_MAILBOX), BENCH_FOLDER: LATENCY_FOLDER,
  });
  const random = seededRandom(42);
  try {
    await ours.deploy(flow(bed, [imapIn('reader', ACCOUNT_ID, { mailbox: USERS.alice, folder: LATENCY_FOLDER, criteria: 'new' }, 'stamp'), stamper('stamp')]));
    await theirs.deploy(flow(bed, [emailIn('reader', bed, { folder: LATENCY_FOLDER, criteria: 'UNSEEN', disposition: 'Read' }, 'stamp'), stamper('stamp')], false));
    await raw.waitFor('ready', 30_000);
    const observers = { 'm365-imap-in': ours, 'node-red-node-email': theirs, 'imapflow IDLE': raw } as const;
    // Each watcher has a mailbox of its own, so none shares Dovecot's notification with another.
    const mailboxOf: Record<keyof typeof observers, string> = {
      'm365-imap-in': USERS.alice, 'node-red-node-email': BENCH_USER.user, 'imapflow IDLE': RAW_MAILBOX,
    };
    const names = Object.keys(observers) as Array<keyof typeof observers>;
    // Warm-up: a first mail proves every watcher is connected and idling.
    for (let attempt = 0; ; attempt++) {
      const tag = `warm${attempt}`;
      for (const name of names) await bed.dovecot.deliver(mailboxOf[name], latencyMail(tag, 0), { folder: LATENCY_FOLDER });
      const arrived = await Promise.all(Object.values(observers).map((o) => seen(o, `${tag}-0@latency.example`, 10_000)));
      if (arrived.every(Boolean)) break;
      if (attempt === 5) throw new Error('latency: the watchers did not all start');
    }
    const samples: Record<string, number[]> = { 'm365-imap-in': [], 'node-red-node-email': [], 'imapflow IDLE': [] };
    const missed: Record<string, number> = { 'm365-imap-in': 0, 'node-red-node-email': 0, 'imapflow IDLE': 0 };
    for (let i = 0; i < config.latencyMails; i++) {
      const id = `lat-${i}@latency.example`;
      // The mailboxes take turns at being written first: whoever is notified last finds the
      // machine idle, which would skew p50 by about 1 ms.
      const order = names.map((_, k) => names[(k + i) % names.length]);
      const writtenAt: Record<string, number> = {};
      for (const name of order) {
        writtenAt[name] = preciseNow();
        await bed.dovecot.deliver(mailboxOf[name], latencyMail('lat', i), { folder: LATENCY_FOLDER });
      }
      const arrived = await Promise.all(names.map((name) => seen(observers[name], id, 10_000)));
      names.forEach((name, k) => {
        const marker = arrived[k];
        if (!marker) missed[name]++;
        else samples[name].push(marker.at - writtenAt[name]);
      });
      // Over a delayed link a watcher is back in IDLE only a round trip and a half after it emitted
      // (IDLE out, "+ idling" back): a mail written earlier would be found when IDLE starts, without
      // Dovecot's notify delay, and the figures would mix two cases.
      await sleep(20 + random() * 60 + 3 * delayMs);
    }
    const out: Record<string, LatencyFigures> = {};
    for (const name of Object.keys(samples)) out[name] = figures(samples[name], missed[name]);
    const phase = `latency (${config.latencyMails} mails), ${delayMs} ms each way`;
    results.detail(phase, Object.fromEntries(Object.entries(out).map(([k, v]) => [k, { ...v, samples: v.samples }])));
    const rawP50 = out['imapflow IDLE'].p50;
    const theirP50 = out['node-red-node-email'].p50;
    for (const name of ['imapflow IDLE', 'node-red-node-email']) {
      results.add({ phase, subject: `${name} p50 / p95`, value: `${out[name].p50} / ${out[name].p95}`, unit: 'ms', note: out[name].missed ? `${out[name].missed} missed` : undefined });
    }
    const ourP50 = out['m365-imap-in'].p50;
    // The goal (at 40 ms round trip, shown at every delay): at most 5 ms behind the plain IDLE client.
    const met = ourP50 - rawP50 <= 5;
    results.add({
      phase, subject: 'm365-imap-in p50 / p95', value: `${ourP50} / ${out['m365-imap-in'].p95}`, unit: 'ms',
      target: `p50 ${round(ourP50 - rawP50)} ms vs plain IDLE, ${round(ourP50 - theirP50)} ms vs (b); goal ≤ plain + 5 ms`, met,
      note: out['m365-imap-in'].missed ? `${out['m365-imap-in'].missed} missed` : undefined,
    });
    return { figures: out, oursRssMb: ours.memory()?.rssMb };
  } finally {
    await Promise.allSettled([ours.stop(), theirs.stop(), raw.stop()]);
  }
}
