/**
 * Scale: one m365-imap-in per mailbox (IDLE), all on one m365-account in one Node-RED, while
 * mail lands in random mailboxes: RSS of the process, token requests, push latency.
 */
import type { BenchBed } from '../bed';
import type { BenchConfig } from '../config';
import { ACCOUNT_ID, flow, imapIn, stamper } from '../flows';
import { startBenchNodeRed } from '../node-red';
import { quantile, Results, round, seededRandom, sleep } from '../results';
import { latencyMail, seen } from './latency';

/** RSS and latency of the single-mailbox latency run, to compare with. */
export interface SingleMailbox {
  p50: number;
  rssMb?: number;
}

export async function scalePhase(bed: BenchBed, config: BenchConfig, results: Results, single?: SingleMailbox): Promise<void> {
  const mailboxes = bed.scaleMailboxes;
  const red = await startBenchNodeRed({ packages: ['ours'] });
  const phase = `scale (${mailboxes.length} mailboxes)`;
  try {
    const tokensBefore = bed.identity.stats.tokenRequests;
    const readers = mailboxes.map((mailbox, i) => imapIn(`reader${i}`, ACCOUNT_ID, { mailbox, folder: 'INBOX', criteria: 'new' }, 'stamp'));
    const deployedAt = await red.deploy(flow(bed, [...readers, stamper('stamp')]));
    // A watcher is up once a mail sent to its mailbox came out. With criteria "new", mail that
    // arrived before it connected does not count, so ask again until every mailbox answered.
    const up = new Map<number, number>();
    for (let round = 0; round < 30 && up.size < mailboxes.length; round++) {
      const pending = mailboxes.map((_, i) => i).filter((i) => !up.has(i));
      await Promise.all(pending.map((i) => bed.dovecot.deliver(mailboxes[i], latencyMail(`up${i}r${round}`, 0))));
      const arrived = await Promise.all(pending.map((i) => seen(red, `up${i}r${round}-0@latency.example`, 3_000)));
      arrived.forEach((marker, k) => {
        if (marker) up.set(pending[k], marker.at);
      });
    }
    const ready = up.size;
    const allUpMs = Math.max(...up.values()) - deployedAt;
    const random = seededRandom(7);
    const waits: Array<Promise<number | undefined>> = [];
    // One mail every 100-300 ms into a random mailbox, without waiting for the last one.
    for (let i = 0; i < config.scaleMails; i++) {
      const mailbox = mailboxes[Math.floor(random() * mailboxes.length)];
      const at = Date.now();
      await bed.dovecot.deliver(mailbox, latencyMail('scale', i));
      waits.push(seen(red, `scale-${i}@latency.example`, 15_000).then((m) => (m ? m.at - at : undefined)));
      await sleep(100 + random() * 200);
    }
    const latencies = (await Promise.all(waits)).filter((v): v is number => v !== undefined);
    const memory = red.memory();
    const tokens = bed.identity.stats.tokenRequests - tokensBefore;
    const p50 = quantile(latencies, 0.5);
    const perNodeKb = single?.rssMb ? ((memory?.rssMb ?? 0) - single.rssMb) * 1024 / (mailboxes.length - 1) : undefined;
    results.detail(phase, { ready, allUpMs, memory, tokens, latencies, perNodeKb, single });
    results.add({ phase, subject: 'watchers up', value: `${ready}/${mailboxes.length}`, unit: '', note: `all emitting ${round(allUpMs / 1000)} s after deploy` });
    results.add({ phase, subject: 'RSS', value: memory?.rssMb ?? NaN, unit: 'MB', note: `peak ${round(memory?.peakMb ?? 0)} MB${single?.rssMb ? `; one watcher: ${round(single.rssMb)} MB, so ≈ ${round(perNodeKb ?? 0)} KB per extra watcher` : ''}` });
    results.add({ phase, subject: 'token requests', value: tokens, unit: '', target: 'goal 1 per lifetime (3600 s here)', met: tokens <= 1 });
    results.add({
      phase, subject: `push latency p50 / p95 (${latencies.length}/${config.scaleMails} mails)`, value: `${round(p50)} / ${round(quantile(latencies, 0.95))}`, unit: 'ms',
      ...(single ? { target: `${round(p50 - single.p50)} ms vs one mailbox, goal ≈ same (≤ +50 ms)`, met: p50 - single.p50 <= 50 } : {}),
    });
  } finally {
    await red.stop();
  }
}
