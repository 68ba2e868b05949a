/**
 * Baseline (a): the practical limit of draining a folder with imapflow + mailparser, written the
 * way a careful script would: one connection, one `FETCH 1:* (UID BODY.PEEK[])`, each message
 * parsed by simpleParser as it streams in. Run as a child process by bench/phases/drain.ts.
 * Env: BENCH_HOST, BENCH_PORT, BENCH_USER, BENCH_TOKEN, BENCH_FOLDER, BENCH_EXPECTED.
 */
import { ImapFlow } from 'imapflow';
import { simpleParser } from 'mailparser';
import { mark, peakRssMb, rssMb } from './markers';

async function main(): Promise<void> {
  mark('start');
  const client = new ImapFlow({
    host: String(process.env.BENCH_HOST), port: Number(process.env.BENCH_PORT), secure: true,
    auth: { user: String(process.env.BENCH_USER), accessToken: String(process.env.BENCH_TOKEN) },
    logger: false, disableAutoIdle: true,
  });
  client.on('error', () => undefined);
  await client.connect();
  await client.mailboxOpen(String(process.env.BENCH_FOLDER), { readOnly: true });
  // Idle: connected and logged in, before any mail — what the RSS growth of the drain is measured from.
  mark('idle', rssMb().toFixed(1));
  let count = 0;
  for await (const message of client.fetch('1:*', { uid: true, source: true })) {
    if (!message.source) continue;
    await simpleParser(message.source);
    if (count++ === 0) mark('first');
  }
  mark('done', count);
  mark('rss', peakRssMb().toFixed(1));
  await client.logout();
}

main().catch((error: unknown) => {
  mark('error', String(error instanceof Error ? error.message : error).replace(/\s+/g, '_'));
  process.exit(1);
});
