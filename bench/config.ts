/**
 * Every size the benchmark uses, from the environment. BENCH_QUICK=1 shrinks all of them so a
 * full pass takes about a minute; any single value can be overridden on its own, e.g.
 * BENCH_DRAIN_LARGE=50000 or BENCH_PHASES=drain,latency.
 */
export interface BenchConfig {
  quick: boolean;
  /** Phases to run: drain, ack, memory, big, pop3, latency, tokens, scale, send. */
  phases: Set<string>;
  drainSmall: number;
  drainLarge: number;
  latencyMails: number;
  /** Megabytes of the one big attachment. */
  bigAttachmentMb: number;
  tokenNodes: number;
  tokenLifetimeSec: number;
  tokenLifetimes: number;
  scaleMailboxes: number;
  scaleMails: number;
  /** Heap cap for the "small board" drains, in MB. */
  smallHeapMb: number;
  /** Runs of (a) and m365-imap-in on the small drain, interleaved; the best of each counts. */
  drainRepeat: number;
  /** Give up on a drain after this long without progress. */
  stallMs: number;
  /** Leave node-red-node-email out of the drains (quicker runs while tuning). */
  skipEmail: boolean;
  /** Mails sent through m365-mail-out and the nodemailer script in the send phase. */
  sendMails: number;
  /** Mails waiting in the outbox for the send phase's memory figure. */
  outboxMails: number;
}

const ALL_PHASES = ['drain', 'ack', 'memory', 'big', 'pop3', 'latency', 'tokens', 'scale', 'send'];

function int(name: string, full: number, quick: number, isQuick: boolean): number {
  const raw = process.env[name];
  if (raw !== undefined && raw !== '') {
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number, got ${raw}`);
    return value;
  }
  return isQuick ? quick : full;
}

export function readConfig(): BenchConfig {
  const quick = process.env.BENCH_QUICK === '1';
  const phases = new Set((process.env.BENCH_PHASES ?? ALL_PHASES.join(',')).split(',').map((p) => p.trim()).filter(Boolean));
  for (const phase of phases) if (!ALL_PHASES.includes(phase)) throw new Error(`unknown phase ${phase}; known: ${ALL_PHASES.join(', ')}`);
  return {
    quick,
    phases,
    drainSmall: int('BENCH_DRAIN_SMALL', 5000, 500, quick),
    drainLarge: int('BENCH_DRAIN_LARGE', 20000, 2000, quick),
    latencyMails: int('BENCH_LATENCY_MAILS', 200, 20, quick),
    bigAttachmentMb: int('BENCH_BIG_MB', 50, 10, quick),
    tokenNodes: int('BENCH_TOKEN_NODES', 50, 10, quick),
    tokenLifetimeSec: int('BENCH_TOKEN_LIFETIME_SEC', 8, 4, quick),
    tokenLifetimes: int('BENCH_TOKEN_LIFETIMES', 10, 3, quick),
    scaleMailboxes: int('BENCH_SCALE_MAILBOXES', 100, 10, quick),
    scaleMails: int('BENCH_SCALE_MAILS', 100, 20, quick),
    smallHeapMb: int('BENCH_SMALL_HEAP_MB', 128, 128, quick),
    drainRepeat: int('BENCH_DRAIN_REPEAT', 1, 1, quick),
    stallMs: int('BENCH_STALL_MS', 30_000, 15_000, quick),
    skipEmail: process.env.BENCH_SKIP_EMAIL === '1',
    sendMails: int('BENCH_SEND_MAILS', 1000, 200, quick),
    outboxMails: int('BENCH_OUTBOX_MAILS', 10000, 2000, quick),
  };
}
