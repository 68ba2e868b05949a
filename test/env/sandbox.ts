/**
 * `npx tsx test/env/sandbox.ts` — runs the local Microsoft 365 stand-in until Ctrl-C, with a few
 * mails in alice's INBOX, and prints what to paste into an m365-account config node.
 * The credentials printed are the public fixtures of the test bed, not real secrets.
 */
import { APPS, CONTOSO, USERS, USER_PASSWORD } from './identity/directory';
import { BENCH_USER, EXCHANGE_RESOURCE, startTestBed } from './testbed';

function sampleMail(index: number, subject: string, body: string): string {
  return [
    'From: Bob Brown <bob@contoso.com>',
    'To: Alice Adams <alice@contoso.com>',
    `Subject: ${subject}`,
    `Message-ID: <sandbox-${index}-${Date.now()}@contoso.com>`,
    `Date: ${new Date().toUTCString()}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    body,
    '',
  ].join('\r\n');
}

async function main(): Promise<void> {
  const bed = await startTestBed({ dovecot: { starttls: true }, smtp: true });
  await bed.dovecot.deliverMany(USERS.alice, [
    sampleMail(1, 'Welcome to the sandbox', 'This mail was seeded by test/env/sandbox.ts.'),
    sampleMail(2, 'Quarterly numbers', 'Revenue is up. Details in the meeting.'),
    sampleMail(3, 'Grüße aus Köln', 'Unicode works, too.'),
  ]);

  const { dovecot, identity, ca, smtp } = bed;
  const lines = [
    '',
    'Local Microsoft 365 stand-in is running (Ctrl-C to stop).',
    '',
    `Start Node-RED with:  NODE_EXTRA_CA_CERTS=${ca.caCertFile} node-red`,
    '(Node reads NODE_EXTRA_CA_CERTS only at start; without it TLS to the stand-in fails.)',
    '',
    'm365-account config node:',
    '  Cloud:            Custom',
    `  Authority host:   ${identity.url}`,
    `  Tenant:           ${CONTOSO.tenantId}   (or contoso.com)`,
    `  Client ID:        ${APPS.daemon.clientId}`,
    '  Auth type:        Client secret',
    `  Client secret:    ${APPS.daemon.secret}`,
    `  Resource:         ${EXCHANGE_RESOURCE}`,
    `  IMAP host / port: ${dovecot.host} / ${dovecot.imapPort}`,
    `  POP3 host / port: ${dovecot.host} / ${dovecot.pop3Port}`,
    `  SMTP host / port: ${smtp?.host} / ${smtp?.port}   (STARTTLS; mail to ${USERS.alice}, ${USERS.bob}, ${USERS.support} arrives)`,
    `  Mailbox:          ${USERS.alice}   (shared: ${USERS.support})`,
    '',
    'Delegated sign-in (device code / auth code):',
    `  Public client ID: ${APPS.publicApp.clientId}`,
    `  Device login:     ${identity.url}/devicelogin   user ${USERS.alice}, password ${USER_PASSWORD}`,
    '',
    'Other endpoints:',
    `  STARTTLS IMAP / POP3: ${dovecot.starttlsHost} / ${dovecot.imapStarttlsPort}, ${dovecot.pop3StarttlsPort}`,
    `  Basic auth (benchmarks only): ${BENCH_USER.user} / ${BENCH_USER.password}`,
    `  Dovecot log: ${dovecot.logFile}`,
    `  Seed more mail: doveadm -c ${dovecot.configFile} ... or edit this script`,
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping...\n`);
    bed.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`stop failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  process.stderr.write(`sandbox failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
