import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { M365MailError } from '../../../src/core/errors';
import { SmtpSendError } from '../../../src/smtp/mailbox-sender';
import { Outbox, type NewOutboxMail } from '../../../src/smtp/outbox';
import { parseSegmentName, segmentName, storedMailCount, WATERMARK_FILE } from '../../../src/smtp/outbox-files';
import { OutboxDrain, type DrainEvents } from '../../../src/smtp/outbox-drain';
import { Pacer } from '../../../src/smtp/pacer';
import type { SmtpSendInfo } from '../../../src/smtp/smtp-session';

function mail(n: number): NewOutboxMail {
  return {
    mailbox: 'alice@contoso.com', messageId: `<m${n}@contoso.com>`, envelope: { from: 'alice@contoso.com', to: ['bob@contoso.com'] },
    raw: Buffer.from(`Subject: ${n}\r\n\r\nbody ${n} \u00e9\r\n`, 'latin1'), msg: { payload: `p${n}`, _msgid: `id${n}`, data: Buffer.from([n]) },
  };
}

/** Fast timers: every wait resolves on the next turn, so retries happen without real delays. */
const instantClock = {
  now: () => Date.now(),
  setTimeout: (callback: () => void) => setImmediate(callback),
  clearTimeout: (handle: unknown) => clearImmediate(handle as NodeJS.Immediate),
};

function recorder(): DrainEvents & { sent: string[]; refused: string[]; retries: M365MailError[]; idle: Promise<void>; waitIdle(): Promise<void> } {
  let resolveIdle: () => void = () => undefined;
  const events = {
    sent: [] as string[], refused: [] as string[], retries: [] as M365MailError[],
    idle: Promise.resolve(),
    waitIdle(): Promise<void> {
      return new Promise<void>((resolve) => { resolveIdle = resolve; });
    },
    onSent: (m: { messageId: string }) => events.sent.push(m.messageId),
    onRefused: (m: { messageId: string }) => events.refused.push(m.messageId),
    onRetry: (error: M365MailError) => events.retries.push(error),
    onStatus: (status: { state: string }) => { if (status.state === 'idle') resolveIdle(); },
    onDamaged: () => undefined,
  };
  return events as unknown as ReturnType<typeof recorder>;
}

const OK: SmtpSendInfo = { accepted: ['bob@contoso.com'], rejected: [], response: '250 2.0.0 OK' };

describe('smtp outbox', () => {
  let dir: string;
  beforeEach(async () => { dir = await fs.mkdtemp(path.join(os.tmpdir(), 'm365-outbox-')); });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  it('keeps mails across a reopen, in order, with raw bytes and msg Buffers intact', async () => {
    const first = new Outbox(dir);
    await first.open();
    for (let i = 1; i <= 3; i++) await first.add(mail(i));
    await fs.writeFile(path.join(dir, '000000000009.mail.4242-abc.tmp'), 'half written');
    const again = new Outbox(dir);
    await again.open();
    assert.equal(again.size, 3);
    const seq = again.peek()!;
    const loaded = await again.load(seq);
    assert.equal(loaded.messageId, '<m1@contoso.com>');
    assert.deepEqual(loaded.raw, mail(1).raw);
    assert.deepEqual(loaded.msg.data, Buffer.from([1]));
    await again.remove(seq);
    assert.equal((await again.load(again.peek()!)).messageId, '<m2@contoso.com>');
    const next = await again.add(mail(4));
    assert.equal(next.seq, 4);
  });

  it('commits mails added together as groups: each on disk when its add resolves, in the order added', async () => {
    const outbox = new Outbox(dir);
    await outbox.open();
    const adds = Array.from({ length: 20 }, (_, i) => outbox.add(mail(i + 1)));
    assert.equal(outbox.peek(), undefined, 'nothing is taken before it is on disk');
    const entries = await Promise.all(adds);
    assert.deepEqual(entries.map((e) => e.seq), Array.from({ length: 20 }, (_, i) => i + 1));
    const files = (await fs.readdir(dir)).sort();
    assert.ok(files.length < 20, `one segment file per group, not one file per mail (${files.length})`);
    assert.ok(files.every((name) => name.endsWith('.mails')), 'no temp file left');
    assert.equal(storedMailCount(dir), 20);
    // Read back from memory (just written) and from disk (a reopen): the same mail.
    const fromMemory = await outbox.load(1);
    const reopened = new Outbox(dir);
    await reopened.open();
    const fromDisk = await reopened.load(1);
    assert.deepEqual(fromMemory, fromDisk);
    assert.equal(reopened.size, 20);
  });

  it('finishes mails in the middle of a segment: a reopen finds exactly the rest, and numbers are never reused', async () => {
    const outbox = new Outbox(dir);
    await outbox.open();
    await Promise.all([1, 2, 3, 4, 5].map((i) => outbox.add(mail(i))));
    assert.deepEqual(await fs.readdir(dir), [segmentName(1, 5)], 'five mails added together: one segment');
    for (const seq of [1, 2, 3]) await outbox.remove(seq);
    assert.equal(storedMailCount(dir), 2);
    outbox.close();

    const again = new Outbox(dir);
    await again.open();
    assert.equal(again.size, 2);
    assert.equal(again.peek(), 4);
    assert.equal((await again.load(4)).messageId, '<m4@contoso.com>', 'read from the segment on disk');
    await again.remove(4);
    await again.remove(5);
    assert.deepEqual(await fs.readdir(dir), [WATERMARK_FILE], 'the finished segment is deleted');
    again.close();

    // Nothing left on disk but the watermark: a new mail still gets a number after it.
    const third = new Outbox(dir);
    await third.open();
    assert.equal(third.size, 0);
    assert.equal((await third.add(mail(6))).seq, 6);
    third.close();
  });

  it('deletes at open a segment whose mails were all finished before a kill (the delete did not happen)', async () => {
    const outbox = new Outbox(dir);
    await outbox.open();
    await Promise.all([1, 2].map((i) => outbox.add(mail(i))));
    await Promise.all([3, 4].map((i) => outbox.add(mail(i))));
    outbox.close();
    // As if killed after the watermark passed the first segment but before it was deleted.
    await fs.writeFile(path.join(dir, WATERMARK_FILE), '000000000000002\n');
    const again = new Outbox(dir);
    await again.open();
    assert.equal(again.size, 2);
    assert.equal(again.peek(), 3);
    assert.deepEqual((await fs.readdir(dir)).filter((name) => parseSegmentName(name)), [segmentName(3, 4)]);
    again.close();
  });

  it('treats a missing or damaged watermark as nothing finished: mails come back, none is lost', async () => {
    const outbox = new Outbox(dir);
    await outbox.open();
    await Promise.all([1, 2, 3].map((i) => outbox.add(mail(i))));
    await outbox.remove(1);
    outbox.close();
    await fs.writeFile(path.join(dir, WATERMARK_FILE), 'garbage');
    const again = new Outbox(dir);
    await again.open();
    assert.equal(again.size, 3);
    assert.equal(again.peek(), 1);
    again.close();
  });

  it('reads the mails of the earlier layout (one file per mail) and sends them in order', async () => {
    // Written by the version before segments: `<seq>.mail`, one line of the same format.
    const earlier = new Outbox(path.join(dir, 'probe'));
    await earlier.open();
    await earlier.add(mail(1));
    const line = (await fs.readFile(path.join(dir, 'probe', segmentName(1, 1)), 'utf8')).trim();
    earlier.close();
    for (const seq of [7, 8]) await fs.writeFile(path.join(dir, `00000000000${seq}.mail`), line.replace('"seq":1,', `"seq":${seq},`).replace('<m1@', `<m${seq}@`));
    await fs.rm(path.join(dir, 'probe'), { recursive: true });

    const outbox = new Outbox(dir);
    await outbox.open();
    assert.equal(outbox.size, 2);
    assert.equal(storedMailCount(dir), 2);
    assert.equal((await outbox.load(7)).messageId, '<m7@contoso.com>');
    await outbox.remove(7);
    assert.equal((await outbox.load(8)).messageId, '<m8@contoso.com>');
    await outbox.remove(8);
    assert.deepEqual(await fs.readdir(dir), [WATERMARK_FILE]);
    assert.equal((await outbox.add(mail(9))).seq, 9);
    outbox.close();
  });

  it('cuts a large group into several segments, in order', async () => {
    const outbox = new Outbox(dir);
    await outbox.open();
    const big = (n: number): NewOutboxMail => ({ ...mail(n), raw: Buffer.alloc(3 * 1024 * 1024, 0x61) });
    await Promise.all([1, 2, 3].map((i) => outbox.add(big(i))));
    const segments = (await fs.readdir(dir)).map(parseSegmentName).filter((s) => s !== undefined);
    assert.equal(segments.length, 3, 'three 3 MB mails do not share a 4 MB segment');
    const reopened = new Outbox(dir);
    await reopened.open();
    for (const seq of [1, 2, 3]) {
      const loaded = await reopened.load(seq);
      assert.equal(loaded.messageId, `<m${seq}@contoso.com>`);
      assert.equal(loaded.raw.length, 3 * 1024 * 1024);
      await reopened.remove(seq);
    }
    assert.equal(storedMailCount(dir), 0);
    outbox.close();
    reopened.close();
  });

  it('lets a group wait for mails still on their way (one commit), up to a bound, and flush() ends the wait', async () => {
    let coming = 5;
    const outbox = new Outbox(dir, { moreComing: () => coming > 0 });
    await outbox.open();
    const adds: Array<Promise<unknown>> = [];
    const addOne = (n: number): void => {
      coming--;
      adds.push(outbox.add(mail(n)));
    };
    addOne(1);
    addOne(2);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(await fs.readdir(dir), [], 'the group waits while 3 more are coming');
    for (const n of [3, 4, 5]) addOne(n);
    await Promise.all(adds);
    assert.deepEqual(await fs.readdir(dir), [segmentName(1, 5)], 'one segment for the five');

    // A mail that never comes (its msg could not be composed): flush() lets the group go.
    coming = 2;
    addOne(6);
    const sixth = adds[adds.length - 1];
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(outbox.size, 6);
    assert.equal(storedMailCount(dir), 5, 'the sixth waits for the seventh');
    coming--;
    outbox.flush();
    await sixth;
    assert.equal(storedMailCount(dir), 6);

    // However many are said to be coming, a group of 32 or more does not wait.
    coming = 1000;
    await Promise.all(Array.from({ length: 40 }, (_, i) => outbox.add(mail(100 + i))));
    assert.equal(storedMailCount(dir), 46);
    outbox.close();
  });

  it('fails the adds of a group whose folder is gone and takes none of them', async () => {
    const outbox = new Outbox(dir);
    await outbox.open();
    await fs.rm(dir, { recursive: true, force: true });
    const results = await Promise.allSettled([outbox.add(mail(1)), outbox.add(mail(2))]);
    assert.ok(results.every((r) => r.status === 'rejected' && (r.reason as M365MailError).kind === 'storage'));
    assert.equal(outbox.size, 0);
  });
});

describe('smtp outbox drain', () => {
  let dir: string;
  let outbox: Outbox;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'm365-drain-'));
    outbox = new Outbox(dir);
    await outbox.open();
  });
  afterEach(() => {
    outbox.close();
    return fs.rm(dir, { recursive: true, force: true });
  });

  it('sends in order and removes each mail only after the server accepted it', async () => {
    for (let i = 1; i <= 5; i++) await outbox.add(mail(i));
    const events = recorder();
    const idle = events.waitIdle();
    const seen: number[] = [];
    const drain = new OutboxDrain({
      outbox, pace: 0, events, clock: instantClock,
      sender: { send: async () => { seen.push(outbox.size); return OK; } },
    });
    drain.start();
    await idle;
    await drain.stop();
    assert.deepEqual(events.sent, [1, 2, 3, 4, 5].map((i) => `<m${i}@contoso.com>`));
    assert.deepEqual(seen, [5, 4, 3, 2, 1]);
    assert.deepEqual(await fs.readdir(dir), [WATERMARK_FILE], 'every segment deleted, only the watermark left');
    assert.equal(storedMailCount(dir), 0);
  });

  it('keeps a mail through temporary failures and sends it once the server takes it', async () => {
    await outbox.add(mail(1));
    await outbox.add(mail(2));
    const events = recorder();
    const idle = events.waitIdle();
    let calls = 0;
    const drain = new OutboxDrain({
      outbox, pace: 0, events, clock: instantClock,
      sender: {
        send: async () => {
          calls++;
          if (calls <= 3) {
            throw new SmtpSendError({ scope: 'session', error: new M365MailError('throttled', { kind: 'throttled', retryable: true, retryAfterMs: 60_000, code: '421 4.7.66' }) });
          }
          return OK;
        },
      },
    });
    drain.start();
    await idle;
    await drain.stop();
    assert.deepEqual(events.sent, ['<m1@contoso.com>', '<m2@contoso.com>']);
    assert.equal(events.refused.length, 0);
    assert.equal(events.retries.length, 1, 'the same failure is reported once');
  });

  it('takes a mail the server refused for good out of the outbox and goes on with the next', async () => {
    await outbox.add(mail(1));
    await outbox.add(mail(2));
    const events = recorder();
    const idle = events.waitIdle();
    const drain = new OutboxDrain({
      outbox, pace: 0, events, clock: instantClock,
      sender: {
        send: async (_envelope, raw) => {
          if (raw.toString().includes('Subject: 1')) throw new SmtpSendError({ scope: 'mail', error: new M365MailError('refused', { kind: 'mail-refused' }) });
          return OK;
        },
      },
    });
    drain.start();
    await idle;
    await drain.stop();
    assert.deepEqual(events.refused, ['<m1@contoso.com>']);
    assert.deepEqual(events.sent, ['<m2@contoso.com>']);
    assert.equal(outbox.size, 0);
  });

  it('sets aside a damaged mail and a segment that cannot be read, and sends the mails behind them', async () => {
    await Promise.all([1, 2].map((i) => outbox.add(mail(i))));
    await Promise.all([3, 4].map((i) => outbox.add(mail(i))));
    await outbox.add(mail(5));
    outbox.close();
    // Damage on disk: mail 1's line is cut short; the segment of 3 and 4 is unreadable (a folder).
    const first = path.join(dir, segmentName(1, 2));
    const lines = (await fs.readFile(first, 'utf8')).split('\n');
    await fs.writeFile(first, [lines[0].slice(0, 60), ...lines.slice(1)].join('\n'));
    await fs.rm(path.join(dir, segmentName(3, 4)));
    await fs.mkdir(path.join(dir, segmentName(3, 4)));
    const reopened = new Outbox(dir);
    await reopened.open();
    const events = recorder();
    const damaged: number[] = [];
    events.onDamaged = (seq) => damaged.push(seq);
    const idle = events.waitIdle();
    const drain = new OutboxDrain({ outbox: reopened, pace: 0, events, clock: instantClock, sender: { send: async () => OK } });
    drain.start();
    await idle;
    await drain.stop();
    reopened.close();
    assert.deepEqual(damaged, [1, 3, 4]);
    assert.deepEqual(events.sent, ['<m2@contoso.com>', '<m5@contoso.com>']);
    const files = (await fs.readdir(dir)).sort();
    assert.deepEqual(files, ['000000000001.mail.bad', `${segmentName(3, 4)}.bad`, WATERMARK_FILE]);
  });

  it('starts on new mail when idle', async () => {
    const events = recorder();
    let idle = events.waitIdle();
    const drain = new OutboxDrain({ outbox, pace: 0, events, clock: instantClock, sender: { send: async () => OK } });
    drain.start();
    await idle;
    idle = events.waitIdle();
    await outbox.add(mail(7));
    await idle;
    await drain.stop();
    assert.deepEqual(events.sent, ['<m7@contoso.com>']);
  });
});

describe('smtp pacer', () => {
  it('allows `pace` sends in any 60 s window and says how long to wait for the next', () => {
    const pacer = new Pacer();
    for (let t = 0; t < 3; t++) {
      assert.equal(pacer.delayFor(3, t * 1000), 0);
      pacer.record(t * 1000, 3);
    }
    assert.equal(pacer.delayFor(3, 3000), 57_000);
    assert.equal(pacer.delayFor(3, 60_000), 0);
    assert.equal(pacer.delayFor(0, 3000), 0, 'pace 0 = no pacing');
  });
});
