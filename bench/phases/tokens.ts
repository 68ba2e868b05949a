/**
 * Tokens: `tokenNodes` m365-imap-in nodes on one m365-account, with access tokens that live only
 * `tokenLifetimeSec`; how many token requests reach the identity server over `tokenLifetimes`
 * lifetimes? The goal is one per lifetime, whatever the number of nodes.
 */
import { USERS } from '../../test/env/identity/directory';
import { LATENCY_FOLDER, type BenchBed } from '../bed';
import type { BenchConfig } from '../config';
import { ACCOUNT_ID, flow, imapIn, stamper } from '../flows';
import { startBenchNodeRed } from '../node-red';
import { Results, round, sleep } from '../results';
import { latencyMail, seen } from './latency';

export async function tokensPhase(bed: BenchBed, config: BenchConfig, results: Results): Promise<void> {
  const lifetime = config.tokenLifetimeSec;
  const previousLifetime = bed.identity.tokenLifetimeSec;
  bed.identity.tokenLifetimeSec = lifetime;
  const red = await startBenchNodeRed({ packages: ['ours'] });
  const phase = `tokens (${config.tokenNodes} nodes, ${config.tokenLifetimes} × ${lifetime} s)`;
  try {
    const readers = Array.from({ length: config.tokenNodes }, (_, i) => imapIn(`reader${i}`, ACCOUNT_ID, { mailbox: USERS.alice, folder: LATENCY_FOLDER, criteria: 'new' }, 'stamp'));
    const before = bed.identity.stats.tokenRequests;
    const logins = bed.identity.stats.introspections;
    const started = Date.now();
    await red.deploy(flow(bed, [...readers, stamper('stamp')]));
    await sleep(lifetime * config.tokenLifetimes * 1000);
    const requests = bed.identity.stats.tokenRequests - before;
    // Still working at the end: a mail now reaches every node.
    await bed.dovecot.deliver(USERS.alice, latencyMail('tok', 0), { folder: LATENCY_FOLDER });
    await seen(red, 'tok-0@latency.example', 10_000);
    await sleep(2000);
    const emitted = red.markers.filter((m) => m.kind === 'msg' && m.args[0] === 'tok-0@latency.example').length;
    const elapsedLifetimes = (Date.now() - started) / 1000 / lifetime;
    const perLifetime = requests / config.tokenLifetimes;
    const errors = red.logLines(/\[error\]/).length;
    results.detail(phase, { requests, logins: bed.identity.stats.introspections - logins, elapsedLifetimes, emitted, errors });
    results.add({
      phase, subject: 'token requests', value: requests, unit: '',
      // Renewal starts at 75 % of a lifetime, so ≈ 1.33 per lifetime is the design; what matters is
      // that the count does not grow with the number of nodes.
      target: `${round(perLifetime)} per lifetime for ${config.tokenNodes} nodes, goal 1 (renewal at 75 % → ≈ 1.33)`, met: perLifetime <= 1.5,
      note: `${bed.identity.stats.introspections - logins} IMAP logins; ${emitted}/${config.tokenNodes} nodes emitted a mail sent at the end${errors ? `; ${errors} error lines` : ''}`,
    });
  } finally {
    bed.identity.tokenLifetimeSec = previousLifetime;
    await red.stop();
  }
}
