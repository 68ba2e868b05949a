/**
 * Baseline for push latency: a minimal imapflow client in IDLE on one folder; on EXISTS it
 * fetches the new UIDs, parses each mail and prints "BENCH msg <message-id> <ms>", then IDLEs
 * again. Env: BENCH_HOST, BENCH_PORT, BENCH_USER, BENCH_TOKEN, BENCH_FOLDER.
 */
import { ImapFlow } from 'imapflow';
import { simpleParser } from 'mailparser';
import { mark } from './markers';

async function main(): Promise<void> {
  const client = new ImapFlow({
    host: String(process.env.BENCH_HOST), port: Number(process.env.BENCH_PORT), secure: true,
    auth: { user: String(process.env.BENCH_USER), accessToken: String(process.env.BENCH_TOKEN) },
    logger: false, disableAutoIdle: true,
  });
  client.on('error', () => undefined);
  await client.connect();
  const box = await client.mailboxOpen(String(process.env.BENCH_FOLDER), { readOnly: true });
  let lastUid = box.uidNext - 1;
  let busy = false;
  let again = false;
  const check = async (): Promise<void> => {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    do {
      again = false;
      for await (const message of client.fetch(`${lastUid + 1}:*`, { uid: true, source: true }, { uid: true })) {
        if (message.uid <= lastUid || !message.source) continue;
        lastUid = message.uid;
        const parsed = await simpleParser(message.source);
        mark('msg', String(parsed.messageId ?? '').replace(/[^A-Za-z0-9@.-]/g, ''));
      }
    } while (again);
    busy = false;
    client.idle().catch(() => undefined);
  };
  client.on('exists', () => void check());
  mark('ready');
  client.idle().catch(() => undefined);
  process.on('SIGTERM', () => void client.logout().finally(() => process.exit(0)));
}

main().catch((error: unknown) => {
  mark('error', String(error instanceof Error ? error.message : error).replace(/\s+/g, '_'));
  process.exit(1);
});
