import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { M365MailError } from '../../../src/core/errors';
import { SmtpSendError } from '../../../src/smtp/mailbox-sender';
import { Outbox, type NewOutboxMail } from '../../../src/smtp/outbox';
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
    assert.equal(files.length, 20);
    assert.ok(files.every((name) => name.endsWith('.mail')), 'no temp file left');
    // Read back from memory (just written) and from disk (a reopen): the same mail.
    const fromMemory = await outbox.load(1);
    const reopened = new Outbox(dir);
    await reopened.open();
    const fromDisk = await reopened.load(1);
    assert.deepEqual(fromMemory, fromDisk);
    assert.equal(reopened.size, 20);
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
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

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
    assert.deepEqual(await fs.readdir(dir), []);
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
