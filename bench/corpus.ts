/**
 * A deterministic mixed corpus shaped like a real inbox: mostly plain text, a good share of
 * text+HTML newsletters, some mails with attachments and a few large ones. Mail `i` is always the
 * same bytes (seeded PRNG), so every run and every client sees identical input.
 */
export interface CorpusStats {
  count: number;
  bytes: number;
  byKind: Record<MailKind, number>;
}

export type MailKind = 'text' | 'html' | 'attachment' | 'large';

const WORDS = ('lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore '
  + 'magna aliqua invoice order shipment meeting agenda report quarterly budget review please find attached regards '
  + 'thanks schedule project update customer support ticket résumé größe naïve café').split(' ');

/** mulberry32: small, fast, good enough for test data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// One pool of pseudo-random bytes; attachments are slices of it (parsers do the same work).
let pool: Buffer | undefined;
function bytePool(): Buffer {
  if (!pool) {
    const random = prng(0xb3c4);
    pool = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < pool.length; i += 4) pool.writeUInt32LE(Math.floor(random() * 4294967296), i);
  }
  return pool;
}

function words(random: () => number, bytes: number): string {
  const out: string[] = [];
  let size = 0;
  let line = 0;
  while (size < bytes) {
    const word = WORDS[Math.floor(random() * WORDS.length)];
    out.push(word);
    size += word.length + 1;
    line += word.length + 1;
    if (line > 66) {
      out.push('\r\n');
      line = 0;
    }
  }
  return out.join(' ').replace(/ \r\n /g, '\r\n');
}

function base64Lines(data: Buffer): string {
  return data.toString('base64').replace(/.{76}/g, '$&\r\n');
}

function between(random: () => number, min: number, max: number): number {
  return Math.floor(min + random() * (max - min));
}

export function kindOf(index: number): MailKind {
  const r = prng(index * 7919 + 1)();
  if (r < 0.6) return 'text';
  if (r < 0.9) return 'html';
  if (r < 0.99) return 'attachment';
  return 'large';
}

/** Message-ID of corpus mail `index`. */
export function corpusMessageId(index: number, tag = 'bench'): string {
  return `<${tag}-${index}@corpus.example>`;
}

/** The raw RFC 822 bytes of corpus mail `index`. */
export function corpusMail(index: number, tag = 'bench'): Buffer {
  const random = prng(index * 104729 + 17);
  const kind = kindOf(index);
  const date = new Date(Date.UTC(2026, 0, 1) + index * 60_000).toUTCString().replace('GMT', '+0000');
  const received = Array.from({ length: between(random, 2, 6) }, (_, hop) =>
    `Received: from mx${hop}.relay.example (mx${hop}.relay.example [192.0.2.${hop + 1}])\r\n\tby mx.contoso.com with ESMTPS id ${index}-${hop}; ${date}`);
  const headers = [
    ...received,
    `From: "Sender ${index % 97}" <sender${index % 97}@example.com>`,
    'To: alice@contoso.com',
    ...(random() < 0.3 ? [`Cc: bob@contoso.com, "Carol" <carol${index % 13}@example.org>`] : []),
    `Subject: ${kind} mail ${index}: ${words(random, 40).replace(/\r\n/g, ' ')}`,
    `Date: ${date}`,
    `Message-ID: ${corpusMessageId(index, tag)}`,
    'MIME-Version: 1.0',
  ];
  const text = words(random, kind === 'text' ? between(random, 800, 6000) : between(random, 300, 3000));
  let body: string[];
  if (kind === 'text') {
    body = ['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', text];
  } else {
    const html = `<html><body><table>${Array.from({ length: between(random, 5, 60) }, () => `<tr><td><p style="font-family:Arial">${words(random, 300)}</p></td></tr>`).join('\r\n')}</table></body></html>`;
    const alternative = [
      'Content-Type: multipart/alternative; boundary="alt-' + index + '"', '',
      `--alt-${index}`, 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', text,
      `--alt-${index}`, 'Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', html,
      `--alt-${index}--`, '',
    ];
    if (kind === 'html') {
      body = alternative;
    } else {
      const size = kind === 'large' ? between(random, 250_000, 1_200_000) : between(random, 8_000, 120_000);
      const data = bytePool();
      const start = between(random, 0, data.length - size);
      const name = kind === 'large' ? `scan-${index}.pdf` : `report-${index}.${['pdf', 'png', 'docx', 'xlsx'][index % 4]}`;
      body = [
        `Content-Type: multipart/mixed; boundary="mix-${index}"`, '',
        `--mix-${index}`, ...alternative,
        `--mix-${index}`, `Content-Type: application/octet-stream; name="${name}"`, 'Content-Transfer-Encoding: base64',
        `Content-Disposition: attachment; filename="${name}"`, '', base64Lines(data.subarray(start, start + size)),
        `--mix-${index}--`, '',
      ];
    }
  }
  return Buffer.from([...headers, ...body].join('\r\n'), 'utf8');
}

/** Calls `sink` with the corpus mails [from, to) in chunks of `chunk` (so memory stays small). */
export async function forEachChunk(from: number, to: number, chunk: number, sink: (mails: Buffer[], first: number) => Promise<void>, tag = 'bench'): Promise<CorpusStats> {
  const stats: CorpusStats = { count: 0, bytes: 0, byKind: { text: 0, html: 0, attachment: 0, large: 0 } };
  for (let first = from; first < to; first += chunk) {
    const mails: Buffer[] = [];
    for (let i = first; i < Math.min(to, first + chunk); i++) {
      const mail = corpusMail(i, tag);
      mails.push(mail);
      stats.count++;
      stats.bytes += mail.length;
      stats.byKind[kindOf(i)]++;
    }
    await sink(mails, first);
  }
  return stats;
}
