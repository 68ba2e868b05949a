/**
 * `npm run bench`: starts one test bed (identity server + Dovecot), seeds the corpus and runs the
 * phases; prints a compact table and writes bench/results/<timestamp>.json and latest.json.
 * Sizes come from the environment (bench/config.ts); BENCH_QUICK=1 runs small ones.
 */
import path from 'node:path';
import { ensureTestCa } from '../test/env/ca';
import { startBenchBed, DRAIN_LARGE_FOLDER, DRAIN_SMALL_FOLDER } from './bed';
import { readConfig } from './config';
import { ackPhase } from './phases/ack';
import { connectPhase } from './phases/connect';
import { drainAtDelay, drainPhase } from './phases/drain';
import { latencyAtDelays } from './phases/latency';
import { bigAttachmentPhase, cappedDrainPhase } from './phases/memory';
import { pop3Phase } from './phases/pop3';
import { scalePhase } from './phases/scale';
import { sendPhase } from './phases/send';
import { tokensPhase } from './phases/tokens';
import { emailNodePackage } from './node-red';
import { Results } from './results';
import { seedCorpus } from './seed';

const root = path.resolve(__dirname, '..');

/**
 * Every client under test runs in a child process (Node-RED, baseline scripts), and Node reads
 * NODE_EXTRA_CA_CERTS when it starts: so setting it here, before any child starts, is enough.
 * Always the bed's CA (a system-wide value, e.g. the distribution bundle, would not trust the bed).
 */
function ensureCaEnvironment(): void {
  process.env.NODE_EXTRA_CA_CERTS = ensureTestCa().caCertFile;
}

async function main(): Promise<void> {
  ensureCaEnvironment();
  const config = readConfig();
  const results = new Results();
  const started = Date.now();
  const phase = (name: string): boolean => config.phases.has(name);
  console.log(`bench: ${config.quick ? 'quick' : 'full'} run, phases ${[...config.phases].join(', ')}`);
  if (!config.skipEmail) emailNodePackage(); // installed before anything is timed
  const bed = await startBenchBed({ scaleMailboxes: phase('scale') ? config.scaleMailboxes : 0 });
  try {
    if (phase('drain') || phase('ack') || phase('memory') || phase('pop3')) {
      const seeded = await seedCorpus(bed, config.drainSmall, phase('drain') || phase('memory') ? config.drainLarge : 0, phase('drain') ? config.delayDrainSizes : []);
      results.detail('corpus', seeded);
      console.log(`bench: corpus ${seeded.small.count} + ${seeded.large.count} mails (avg ${Math.round(seeded.small.bytes / Math.max(1, seeded.small.count) / 1024)} KB) seeded in ${seeded.seconds.toFixed(1)} s`);
    }
    if (phase('drain')) {
      // Through the delay relay at each delay (the user over a real network), then the
      // large folder straight into Dovecot.
      for (const [i, delayMs] of config.delays.entries()) await drainAtDelay(bed, config, results, delayMs, config.delayDrainSizes[i]);
      if (config.drainLarge > 0) await drainPhase(bed, config, results, DRAIN_LARGE_FOLDER, config.drainLarge);
    }
    if (phase('connect')) await connectPhase(bed, config, results);
    if (phase('ack')) await ackPhase(bed, config, results, DRAIN_SMALL_FOLDER, config.drainSmall);
    if (phase('big')) await bigAttachmentPhase(bed, config, results);
    if (phase('pop3')) await pop3Phase(bed, config, results);
    const latency = phase('latency') ? await latencyAtDelays(bed, config, results) : undefined;
    // The token phase mostly waits for tokens to expire: the long capped-heap drain runs beside it.
    const tokens = phase('tokens') ? () => tokensPhase(bed, config, results) : undefined;
    if (phase('memory')) await cappedDrainPhase(bed, config, results, tokens);
    else if (tokens) await tokens();
    const single = latency ? { p50: latency.figures['m365-imap-in'].p50, rssMb: latency.oursRssMb } : undefined;
    if (phase('scale')) await scalePhase(bed, config, results, single);
    // Sending has a bed of its own (Exchange's SMTP submission beside Dovecot).
    if (phase('send')) await sendPhase(config, results);
  } finally {
    await bed.stop();
  }
  const file = results.write(path.join(root, 'bench/results'), config);
  console.log(`\n${results.table()}\n`);
  console.log(`Goals:\n${results.verdicts()}\n`);
  console.log(`bench: ${Math.round((Date.now() - started) / 1000)} s in all; results in ${path.relative(root, file)} and bench/results/latest.json`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
