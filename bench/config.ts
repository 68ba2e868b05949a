/**
 * Every size the benchmark uses, from the environment. BENCH_QUICK=1 shrinks all of them so a
 * full pass takes about a minute; any single value can be overridden on its own, e.g.
 * BENCH_DRAIN_LARGE=50000 or BENCH_PHASES=drain,latency.
 */
export interface BenchConfig {
  quick: boolean;
  /** Phases to run: drain, connect, ack, memory, big, pop3, latency, tokens, scale, send. */
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
  /** Interleaved runs of each baseline and ours (drains, acknowledge, send); see each phase for how they count. */
  drainRepeat: number;
  /** Give up on a drain after this long without progress. */
  stallMs: number;
  /** Leave node-red-node-email out of the drains (quicker runs while tuning). */
  skipEmail: boolean;
  /** One-way delays (ms) of the relay the drain and latency phases run through; 0 = relay only. */
  delays: number[];
  /** Mails drained at each of `delays` (same order). */
  delayDrainSizes: number[];
  /** One-way delay of the connect phase's relay (ms). */
  connectDelay: number;
  /** Mails sent through m365-mail-out and the nodemailer script in the send phase. */
  sendMails: number;
  /** Mails waiting in the outbox for the send phase's memory figure. */
  outboxMails: number;
}

const ALL_PHASES = ['drain', 'connect', 'ack', 'memory', 'big', 'pop3', 'latency', 'tokens', 'scale', 'send'];

function ints(name: string, full: number[], quick: number[], isQuick: boolean): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return isQuick ? quick : full;
  return raw.split(',').map((part) => {
    const value = Number(part.trim());
    if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a comma list of numbers, got ${raw}`);
    return value;
  });
}

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
  const drainSmall = int('BENCH_DRAIN_SMALL', 5000, 500, quick);
  const delays = ints('BENCH_DELAYS', [0, 20, 100], [0, 20, 100], quick);
  // The sizes: 5,000 mails without delay, 3,000 at 40 ms round trip; 2,000 at 200 ms keeps
  // the run short (each batch boundary costs round trips there).
  const sizeAt = (delay: number, full: boolean): number => (delay === 0 ? drainSmall : delay <= 20 ? (full ? 3000 : 300) : (full ? 2000 : 200));
  const delayDrainSizes = ints('BENCH_DELAY_DRAIN_SIZES', delays.map((d) => sizeAt(d, true)), delays.map((d) => sizeAt(d, false)), quick);
  if (delayDrainSizes.length !== delays.length) throw new Error('BENCH_DELAY_DRAIN_SIZES needs one size per entry of BENCH_DELAYS');
  const phases = new Set((process.env.BENCH_PHASES ?? ALL_PHASES.join(',')).split(',').map((p) => p.trim()).filter(Boolean));
  for (const phase of phases) if (!ALL_PHASES.includes(phase)) throw new Error(`unknown phase ${phase}; known: ${ALL_PHASES.join(', ')}`);
  return {
    quick,
    phases,
    drainSmall,
    delays,
    delayDrainSizes,
    connectDelay: int('BENCH_CONNECT_DELAY', 20, 20, quick),
    drainLarge: int('BENCH_DRAIN_LARGE', 20000, 2000, quick),
    latencyMails: int('BENCH_LATENCY_MAILS', 100, 20, quick),
    bigAttachmentMb: int('BENCH_BIG_MB', 50, 10, quick),
    tokenNodes: int('BENCH_TOKEN_NODES', 50, 10, quick),
    tokenLifetimeSec: int('BENCH_TOKEN_LIFETIME_SEC', 8, 4, quick),
    tokenLifetimes: int('BENCH_TOKEN_LIFETIMES', 10, 3, quick),
    scaleMailboxes: int('BENCH_SCALE_MAILBOXES', 100, 10, quick),
    scaleMails: int('BENCH_SCALE_MAILS', 100, 20, quick),
    smallHeapMb: int('BENCH_SMALL_HEAP_MB', 96, 96, quick),
    drainRepeat: int('BENCH_DRAIN_REPEAT', 3, 1, quick),
    stallMs: int('BENCH_STALL_MS', 30_000, 15_000, quick),
    skipEmail: process.env.BENCH_SKIP_EMAIL === '1',
    sendMails: int('BENCH_SEND_MAILS', 1000, 200, quick),
    outboxMails: int('BENCH_OUTBOX_MAILS', 10000, 2000, quick),
  };
}
