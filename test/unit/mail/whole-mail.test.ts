import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { corpusMail } from '../../../bench/corpus';
import { buildMailMessage } from '../../../src/mail';
import type { AttachmentPolicy, MailMessage } from '../../../src/mail/types';
import { readWholeMail } from '../../../src/mail/whole-mail';
import { sharedCorpus } from '../../hostile/event-loop-block';
import { escapeTargetPath, heavyMails, hostileCorpus } from '../../hostile/hostile-corpus';
import * as testMails from './test-mails';

/**
 * A mail held whole in a Buffer is parsed without mailparser's streams (whole-mail.ts); a mail
 * from a stream goes through them. Both must give the same msg for every mail, and the whole
 * parse must take the ordinary mail it exists for.
 */

const CRLF = '\r\n';
const meta = { protocol: 'imap' as const, mailbox: 'alice@contoso.com', folder: 'INBOX', uid: 7 };

function lines(list: string[]): Buffer {
  return Buffer.from(list.join(CRLF) + CRLF, 'utf8');
}

function multipart(type: string, parts: string[][], extra: string[] = []): string[] {
  return [`Content-Type: multipart/${type}; boundary="b-${type}"`, ...extra, '', 'preamble', ...parts.flatMap((part) => [`--b-${type}`, ...part]), `--b-${type}--`, 'epilogue'];
}

const head = ['From: "Ann" <ann@example.com>', 'To: bob@example.com', 'Subject: =?utf-8?Q?gr=C3=BC=C3=9Fe?=', 'Date: Mon, 23 Nov 2026 10:00:00 +0000', 'Message-ID: <x@example.com>', 'MIME-Version: 1.0'];
const b64 = (text: string) => Buffer.from(text).toString('base64');

/** Shapes on which the two parses could part ways, each named. */
const shapes: Array<[string, Buffer]> = [
  ['quoted-printable text', lines([...head, 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', '', 'caf=C3=A9 soft=', 'break=20', 'end'])],
  ['base64 text, last group incomplete', lines([...head, 'Content-Type: text/plain', 'Content-Transfer-Encoding: base64', '', b64('truncated text!').slice(0, -3)])],
  ['base64 padded inside', lines([...head, 'Content-Type: text/plain', 'Content-Transfer-Encoding: base64', '', b64('ab'), b64('cd')])],
  ['base64 with junk characters', lines([...head, 'Content-Type: text/plain', 'Content-Transfer-Encoding: base64', '', `${b64('hello world').slice(0, 6)}*!${b64('hello world').slice(6)}`])],
  ['octet-stream named by its file', lines([...head, ...multipart('mixed', [['Content-Type: text/plain', '', 'see file'], ['Content-Type: application/octet-stream; name="a.pdf"', 'Content-Transfer-Encoding: base64', 'Content-Disposition: attachment; filename="a.pdf"', '', b64('%PDF-1.4')]])])],
  ['text part as attachment', lines([...head, ...multipart('mixed', [['Content-Type: text/plain', '', 'body'], ['Content-Type: text/plain; name=notes.txt', 'Content-Disposition: attachment; filename=notes.txt', '', 'notes']])])],
  ['odd disposition', lines([...head, ...multipart('mixed', [['Content-Type: text/plain', 'Content-Disposition: weird', '', 'body']])])],
  ['related inline image', lines([...head, ...multipart('related', [['Content-Type: text/html', '', '<img src="cid:img1@x">'], ['Content-Type: image/png', 'Content-ID: <img1@x>', 'Content-Transfer-Encoding: base64', '', b64('png-bytes')]])])],
  ['delivery report', lines([...head, ...multipart('report', [['Content-Type: text/plain', '', 'failed'], ['Content-Type: message/delivery-status', '', 'Action: failed']])])],
  ['empty part', lines([...head, ...multipart('mixed', [['Content-Type: text/plain', ''], ['Content-Type: text/plain', '', 'second']])])],
  ['part that is one empty line', lines([...head, ...multipart('mixed', [['Content-Type: text/plain', '', ''], ['Content-Type: text/plain', '', 'second']])])],
  ['part without headers', lines([...head, ...multipart('mixed', [['', 'no headers here']])])],
  ['part without a header end', lines([...head, ...multipart('mixed', [['Content-Type: text/plain'], ['Content-Type: text/plain', '', 'second']])])],
  ['delimiter with trailing blanks', lines([...head, 'Content-Type: multipart/mixed; boundary=zz', '', '--zz  \t', 'Content-Type: text/plain', '', 'one', '--zz-- ', ''])],
  ['delimiter lookalikes', lines([...head, 'Content-Type: multipart/mixed; boundary=zz', '', '--zz', 'Content-Type: text/plain', '', '--zzz', '--zz-x', ' --zz', '--zz', 'Content-Type: text/plain', '', 'two', '--zz--'])],
  ['CR run before a delimiter line end', lines([...head, 'Content-Type: multipart/mixed; boundary=zz', '', '--zz\r', 'Content-Type: text/plain', '', 'one', '--zz--'])],
  ['no closing delimiter', lines([...head, 'Content-Type: multipart/mixed; boundary=zz', '', '--zz', 'Content-Type: text/plain', '', 'runs to the end'])],
  ['closing delimiter in the preamble', lines([...head, 'Content-Type: multipart/mixed; boundary=zz', '', '--zz--', '--zz', 'Content-Type: text/plain', '', 'one', '--zz--'])],
  ['nested boundaries that overlap', lines([...head, 'Content-Type: multipart/mixed; boundary=a', '', '--a', 'Content-Type: multipart/alternative; boundary=a--', '', '--a--', 'Content-Type: text/plain', '', 'x', '--a----', '--a--'])],
  ['boundary on a part that is not multipart', lines([...head, 'Content-Type: text/html; boundary="zz"', '', '--zz', 'Content-Type: text/html', '', '<p>inner</p>', '--zz--'])],
  ['multipart without a subtype', lines([...head, 'Content-Type: multipart/', '', 'hello'])],
  ['delimiter with 999 trailing blanks', lines([...head, 'Content-Type: multipart/mixed; boundary=b', '', '--b', '', 'one', `--b${' '.repeat(999)}`, '', 'two', '--b--'])],
  ['header lines past mailsplit\'s limit', lines([...Array.from({ length: 16_400 }, () => 'X:'), '', 'body'])],
  ['multipart without boundary', lines([...head, 'Content-Type: multipart/mixed', '', 'text'])],
  ['format=flowed', lines([...head, 'Content-Type: text/plain; format=flowed; delsp=yes', '', 'a long ', 'line'])],
  ['latin-1 text', Buffer.concat([lines([...head, 'Content-Type: text/plain; charset=iso-8859-1', '']), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0d, 0x0a])])],
  ['embedded message', lines([...head, ...multipart('mixed', [['Content-Type: text/plain', '', 'fwd'], ['Content-Type: message/rfc822', 'Content-Disposition: inline', '', 'Subject: inner', '', 'inner body']])])],
  ['bare LF line endings', Buffer.from([...head, ...multipart('alternative', [['Content-Type: text/plain', '', 'plain'], ['Content-Type: text/html', '', '<p>html</p>']])].join('\n'))],
  ['no header end', Buffer.from(head.join(CRLF))],
  ['invalid date', lines(['Date: not a date', 'Subject: x', '', 'body'])],
];

/** Replaces what may differ between two parses of one mail: the "now" of an unparsable date, the file of a saved attachment. */
function comparable(value: unknown): unknown {
  if (value instanceof Date) return Math.abs(value.getTime() - Date.now()) < 60_000 ? 'now' : value.getTime();
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (Array.isArray(value)) return value.map(comparable);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, key === 'path' ? typeof entry : comparable(entry)]));
  }
  return value;
}

async function outcome(source: Buffer | Readable, attachments: AttachmentPolicy, attachmentDir?: string): Promise<unknown> {
  try {
    return comparable(await buildMailMessage(source, { attachments, attachmentDir, meta }));
  } catch (error) {
    return `rejected: ${(error as Error).message}`;
  }
}

describe('a mail parsed whole from a Buffer', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'm365-whole-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const corpus = (): Array<[string, Buffer]> => [
    ...shapes,
    ...Object.entries(testMails).flatMap(([name, value]) => (Buffer.isBuffer(value) && name.endsWith('Mail') ? [[`test mail ${name}`, value] as [string, Buffer]] : [])),
    ...sharedCorpus().flatMap(({ name, raw }): Array<[string, Buffer]> => [[name, raw], [`${name} (CRLF)`, Buffer.from(raw.toString('latin1').replace(/\r?\n/g, CRLF), 'latin1')]]),
    // Mails the readers hand over as a Buffer (below 1 MiB); the larger ones always stream.
    ...[...hostileCorpus(escapeTargetPath(), { hugeAttachmentBytes: 512 * 1024 }), ...heavyMails()]
      .filter(({ raw }) => raw.length < 1024 * 1024)
      .map(({ name, raw }): [string, Buffer] => [`hostile ${name}`, raw]),
    ...Array.from({ length: 120 }, (_, i): [string, Buffer] => [`bench corpus ${i}`, corpusMail(i)]),
  ];

  it('gives the msg the streaming parse gives, for every mail and attachment policy', async function () {
    const differ: string[] = [];
    let compared = 0;
    for (const [name, raw] of corpus()) {
      for (const policy of ['include', 'omit', 'save'] as const) {
        const attachmentDir = policy === 'save' ? dir : undefined;
        const started = Date.now();
        const [whole, streamed] = [await outcome(raw, policy, attachmentDir), await outcome(Readable.from([raw]), policy, attachmentDir)];
        if (process.env.WHOLE_TIMES && Date.now() - started > 200) console.log(name, policy, Date.now() - started, 'ms');
        compared++;
        try {
          assert.deepStrictEqual(whole, streamed);
        } catch {
          differ.push(`${name} (${policy})`);
        }
      }
    }
    assert.ok(compared > 900, `${compared} comparisons`);
    assert.deepEqual(differ, []);
  });

  it('takes the ordinary mail whole, and leaves mailsplit its special cases', function () {
    for (let i = 0; i < 200; i++) assert.ok(readWholeMail(corpusMail(i)), `bench corpus mail ${i}`);
    for (const [name, raw] of Object.entries(testMails)) if (Buffer.isBuffer(raw) && name.endsWith('Mail') && name !== 'wrongCharsetMail' && name !== 'brokenBoundaryMail') assert.ok(readWholeMail(raw), name);
    const taken = shapes.filter(([, raw]) => readWholeMail(raw)).map(([name]) => name);
    assert.deepEqual(taken, [
      'quoted-printable text', 'base64 text, last group incomplete', 'base64 with junk characters', 'octet-stream named by its file', 'text part as attachment',
      'odd disposition', 'related inline image', 'delivery report', 'empty part', 'part without headers', 'delimiter with trailing blanks', 'delimiter lookalikes',
      'bare LF line endings', 'invalid date',
    ]);
    const shared = sharedCorpus();
    const sharedTaken = shared.filter(({ raw }) => readWholeMail(raw)).length;
    assert.ok(shared.length === 0 || sharedTaken >= shared.length / 2, `${sharedTaken} of ${shared.length} corpus mails taken whole`);
  });

  it('keeps what mailparser makes of text, HTML and headers', async function () {
    const msg = await buildMailMessage(testMails.typicalMail, { meta }) as MailMessage;
    assert.ok(readWholeMail(testMails.typicalMail));
    assert.equal(msg.topic, 'Quarterly report');
    assert.equal(msg.from, 'alice@example.com');
    assert.match(String(msg.payload), /Hello Bob, the report is attached\./);
  });
});
