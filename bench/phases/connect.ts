/**
 * Connect to first mail over a delayed link (default 20 ms each way = 40 ms round trip): how long
 * from the client's TCP connection until its first mail, how many round trips that took, and the
 * IMAP commands it sent on the way — for the plain imapflow script and for m365-imap-in. The
 * client reaches Dovecot through the delay relay and, behind it, the IMAP relay of the tests
 * (test/integration/imap/imap-relay.ts), which notes the commands; the delay relay counts the
 * client's flights (TLS handshake included). The IMAP relay's own leg is loopback.
 */
import { USERS } from '../../test/env/identity/directory';
import { describeClientLine, startImapRelay, type ImapRelay, type RelayConnection } from '../../test/integration/imap/imap-relay';
import { preciseNow } from '../baselines/markers';
import { withImapEndpoint, type BenchBed } from '../bed';
import { BaselineProcess } from '../child';
import type { BenchConfig } from '../config';
import { forEachChunk } from '../corpus';
import { DelayProxy, type LinkStats } from '../delay-proxy';
import { ACCOUNT_ID, counter, flow, imapIn } from '../flows';
import { startBenchNodeRed } from '../node-red';
import { Results, round } from '../results';
import { warmFolders } from '../seed';

export const CONNECT_FOLDER = 'Connect';
const CONNECT_MAILS = 100;

export interface ConnectRun {
  subject: string;
  /** From the start (script start / deploy request) to the first mail, ms. */
  startToFirstMs: number;
  /** From the relay accepting the client's TCP connection to the first mail, ms. */
  connectToFirstMs: number;
  /** Client flights over the relay before the first mail (TLS handshake included, TCP's own not). */
  roundTrips: number;
  /** Commands sent before the first mail, per connection, with the flight each went in. */
  commands: Array<{ connection: number; flight: number; text: string }>;
}

/** The commands of one connection up to `until`, without credentials (see describeClientLine). */
function commandsUntil(connection: RelayConnection, until: number): ConnectRun['commands'] {
  return connection.clientLines
    .map((line, i) => ({ at: connection.clientLineTimes[i], flight: connection.clientLineFlights[i], line }))
    .filter(({ at }) => at <= until)
    .map(({ flight, line }) => ({ connection: connection.index, flight, text: describeClientLine(line) }));
}

function summarize(subject: string, startedAt: number, firstAt: number, links: LinkStats[], tapped: RelayConnection[]): ConnectRun {
  const first = links[0];
  if (!first) throw new Error(`${subject}: no connection reached the relay`);
  return {
    subject,
    startToFirstMs: firstAt - startedAt,
    connectToFirstMs: firstAt - first.openedAt,
    roundTrips: links.reduce((sum, link) => sum + link.clientFlightStarts.filter((at) => at <= firstAt).length, 0),
    commands: tapped.flatMap((connection) => commandsUntil(connection, firstAt)),
  };
}

async function scriptRun(bed: BenchBed, relay: DelayProxy, tap: ImapRelay): Promise<ConnectRun> {
  const links = relay.links.length;
  const tapped = tap.connections.length;
  const child = new BaselineProcess('imapflow-drain.ts', {
    BENCH_HOST: bed.imap.host, BENCH_PORT: String(bed.imap.port), BENCH_USER: USERS.alice,
    BENCH_TOKEN: bed.aliceToken(), BENCH_FOLDER: CONNECT_FOLDER, BENCH_EXPECTED: String(CONNECT_MAILS),
  });
  try {
    const start = await child.waitFor('start', 30_000);
    const first = await child.waitFor('first', 60_000);
    return summarize('imapflow script (a)', start.at, first.at, relay.links.slice(links), tap.connections.slice(tapped));
  } finally {
    await child.stop();
  }
}

async function nodeRedRun(bed: BenchBed, relay: DelayProxy, tap: ImapRelay): Promise<ConnectRun> {
  const red = await startBenchNodeRed();
  try {
    const links = relay.links.length;
    const tapped = tap.connections.length;
    const deployedAt = await red.deploy(flow(bed, [imapIn('reader', ACCOUNT_ID, { mailbox: USERS.alice, folder: CONNECT_FOLDER, criteria: 'all' }, 'counter'), counter('counter', CONNECT_MAILS)]));
    const first = await red.waitFor((m) => m.kind === 'first', { timeoutMs: 60_000 });
    return summarize('m365-imap-in', deployedAt, first.at, relay.links.slice(links), tap.connections.slice(tapped));
  } finally {
    await red.stop();
  }
}

/** The command list as printed: "1: CAPABILITY · 2: AUTHENTICATE XOAUTH2 … · …" (flight: commands). */
export function commandList(run: ConnectRun): string {
  const flights = new Map<string, string[]>();
  const several = new Set(run.commands.map((command) => command.connection)).size > 1;
  for (const command of run.commands) {
    const key = `${several ? `connection ${command.connection}, ` : ''}${command.flight}`;
    flights.set(key, [...(flights.get(key) ?? []), command.text]);
  }
  return [...flights].map(([flight, texts]) => `${flight}: ${texts.join(' + ')}`).join(' · ');
}

export async function connectPhase(bed: BenchBed, config: BenchConfig, results: Results): Promise<ConnectRun[]> {
  await forEachChunk(0, CONNECT_MAILS, CONNECT_MAILS, (mails) => bed.dovecot.deliverMany(USERS.alice, mails, { folder: CONNECT_FOLDER }));
  await warmFolders(bed, [USERS.alice], [CONNECT_FOLDER]);
  // TLS with the server's own certificate (clients still verify it), relayed to Dovecot.
  const tap = await startImapRelay({
    upstream: { host: bed.dovecot.host, port: bed.dovecot.imapPort, caPem: bed.ca.caCertPem },
    tls: { certPem: bed.ca.serverCertPem, keyPem: bed.ca.serverKeyPem },
    clock: preciseNow,
  });
  const relay = await DelayProxy.start({ targetHost: tap.host, targetPort: tap.port, delayMs: config.connectDelay });
  try {
    const relayed = withImapEndpoint(bed, relay);
    const runs = [await scriptRun(relayed, relay, tap), await nodeRedRun(relayed, relay, tap)];
    const phase = `connect → first mail, ${config.connectDelay} ms each way`;
    results.detail(phase, runs);
    const [plain, ours] = runs;
    for (const run of runs) {
      const isOurs = run === ours;
      results.add({
        phase, subject: run.subject, value: run.connectToFirstMs, unit: 'ms',
        note: `${run.roundTrips} client flights after TCP connect (TLS included); ${run.commands.length} commands; start to first mail ${round(run.startToFirstMs)} ms`,
        ...(isOurs ? { target: `${ours.roundTrips - plain.roundTrips >= 0 ? '+' : ''}${ours.roundTrips - plain.roundTrips} round trips vs (a); goal: none that is not needed`, met: ours.roundTrips <= plain.roundTrips } : {}),
      });
      results.add({ phase, subject: `commands of ${run.subject} (flight: commands)`, value: commandList(run), unit: '' });
    }
    return runs;
  } finally {
    await relay.close();
    await tap.close();
  }
}
