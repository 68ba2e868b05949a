/**
 * Baseline for the send phase: a plain nodemailer script with one pooled connection
 * (pool: true, maxConnections: 1), STARTTLS and XOAUTH2 with a token handed in, sending COUNT
 * small mails as fast as the server takes them. Prints BENCH start / first / done markers.
 */
import nodemailer from 'nodemailer';
import { mark, peakRssMb } from './markers';

async function main(): Promise<void> {
  const count = Number(process.env.COUNT ?? 1000);
  const mailbox = String(process.env.MAILBOX);
  const transport = nodemailer.createTransport({
    pool: true, maxConnections: 1, maxMessages: Infinity,
    host: process.env.SMTP_HOST, port: Number(process.env.SMTP_PORT), secure: false, requireTLS: true,
    auth: { type: 'OAuth2', user: mailbox, accessToken: String(process.env.TOKEN) },
  });
  mark('start');
  let sent = 0;
  await Promise.all(Array.from({ length: count }, (_, i) => transport.sendMail({
    from: mailbox, to: process.env.TO, subject: `Bench ${i}`, text: `Mail number ${i} of the send benchmark.\n`,
  }).then(() => {
    sent++;
    if (sent === 1) mark('first');
  })));
  mark('done', sent, Math.round(peakRssMb()));
  transport.close();
}

main().catch((error: unknown) => {
  mark('error', String(error instanceof Error ? error.message : error).replace(/\s+/g, '_').slice(0, 200));
  process.exit(1);
});
