/**
 * Sending (m365-mail-out): N small mails through the node (pace off) against a plain nodemailer
 * script with one pooled connection, both to the test bed's Exchange SMTP front end (STARTTLS,
 * XOAUTH2 checked by Dovecot's submission service), interleaved `drainRepeat` times, the best of
 * each counts; the rate is the steady one from the first accepted mail to the last (start-up
 * apart), the total time from the start is reported beside, and "handed": from the first mail
 * handed over (the flow's function starts emitting / the script starts calling sendMail) to the
 * last accepted, composing inside both (the script composes most mails before its first is
 * accepted, so its steady window leaves that out). Goal: the node ≥ 0.9 × the script (steady).
 * Then the node's memory with OUTBOX mails waiting in its outbox while the server is down.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { storedMailCount } from '../../src/smtp/outbox-files';
import { USERS } from '../../test/env/identity/directory';
import { startTestBed, type TestBed } from '../../test/env/testbed';
import { BaselineProcess } from '../child';
import type { BenchConfig } from '../config';
import { counter } from '../flows';
import { startBenchNodeRed } from '../node-red';
import { Results, round, sleep } from '../results';

interface SendRun {
  ok: boolean;
  /** First accepted → last accepted, s. */
  steadySeconds?: number;
  /** Start (deploy / script start) → last accepted, s. */
  totalSeconds?: number;
  /**
   * First mail handed over (the flow's function starts emitting / the script starts calling
   * sendMail) → last accepted, s: connect, login and composing every mail included for both.
   */
  handedSeconds?: number;
  error?: string;
}

const TAB = { id: 'bench-send-tab', type: 'tab', label: 'send' };

/** An app-only token for the script (this process does not trust the bed's CA by default: say it). */
async function appToken(bed: TestBed): Promise<string> {
  const account = bed.accountFor('daemon');
  const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: account.properties.clientId, client_secret: account.credentials.clientSecret!, scope: `${account.properties.resource}/.default` }).toString();
  const url = new URL(`${account.properties.authorityHost}/${account.properties.tenant}/oauth2/v2.0/token`);
  const text = await new Promise<string>((resolve, reject) => {
    const request = https.request(url, { method: 'POST', ca: readFileSync(bed.ca.caCertFile), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }, (response) => {
      let data = '';
      response.on('data', (chunk: Buffer) => { data += chunk.toString('utf8'); });
      response.on('end', () => resolve(data));
    });
    request.on('error', reject);
    request.end(body);
  });
  return (JSON.parse(text) as { access_token: string }).access_token;
}

/** inject (once) → function emitting `count` msgs → m365-mail-out (pace 0) → counter. */
function sendFlow(bed: TestBed, count: number, withCounter: boolean): unknown[] {
  const account = bed.accountFor('daemon');
  const emit = `node.log('BENCH emit ' + Date.now());\nfor (let i = 0; i < ${count}; i++) node.send({ payload: 'Mail number ' + i + ' of the send benchmark.\\n', topic: 'Bench ' + i, to: '${USERS.bob}' });\nreturn null;`;
  return [
    TAB,
    { ...account.node('bench-send-acc'), credentials: account.credentials },
    { id: 'kick', z: TAB.id, type: 'inject', once: true, onceDelay: 0.1, repeat: '', props: [{ p: 'payload' }], payload: '', payloadType: 'date', wires: [['many']] },
    { id: 'many', z: TAB.id, type: 'function', func: emit, outputs: 1, wires: [['send']] },
    { id: 'send', z: TAB.id, type: 'm365-mail-out', account: 'bench-send-acc', mailbox: USERS.alice, pace: '0', wires: [withCounter ? ['send-counter'] : []] },
    ...(withCounter ? [{ ...counter('send-counter', count), z: TAB.id }] : []),
  ];
}

async function runNode(bed: TestBed, count: number, config: BenchConfig): Promise<SendRun> {
  bed.smtp!.reset();
  const red = await startBenchNodeRed();
  try {
    const deployedAt = await red.deploy(sendFlow(bed, count, true));
    const done = await red.waitFor((m) => m.kind === 'done', { idleMs: config.stallMs });
    const first = red.markers.find((m) => m.kind === 'first');
    const emitted = red.markers.find((m) => m.kind === 'emit');
    return { ok: true, steadySeconds: (done.at - (first?.at ?? deployedAt)) / 1000, totalSeconds: (done.at - deployedAt) / 1000, handedSeconds: (done.at - (emitted?.at ?? deployedAt)) / 1000 };
  } catch (error) {
    return { ok: false, error: `${error instanceof Error ? error.message : String(error)}; ${red.logLines(/\[(error|warn)\]/).slice(-2).join(' | ').slice(0, 200)}` };
  } finally {
    await red.stop();
  }
}

async function runScript(bed: TestBed, count: number): Promise<SendRun> {
  bed.smtp!.reset();
  const script = new BaselineProcess('nodemailer-send.ts', {
    COUNT: String(count), SMTP_HOST: bed.smtp!.host, SMTP_PORT: String(bed.smtp!.port), MAILBOX: USERS.alice, TO: USERS.bob, TOKEN: await appToken(bed),
  });
  try {
    const done = await script.waitFor('done');
    const start = script.markers.find((m) => m.kind === 'start');
    const first = script.markers.find((m) => m.kind === 'first');
    const total = (done.at - (start?.at ?? 0)) / 1000;
    return { ok: true, steadySeconds: (done.at - (first?.at ?? 0)) / 1000, totalSeconds: total, handedSeconds: total };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

function best(runs: SendRun[]): SendRun {
  return runs.reduce((a, b) => (b.ok && (!a.ok || (b.steadySeconds ?? Infinity) < (a.steadySeconds ?? Infinity)) ? b : a));
}

/** RSS of a Node-RED whose mail-out holds `count` mails in its outbox (server down). */
async function outboxMemory(bed: TestBed, count: number, config: BenchConfig, results: Results): Promise<void> {
  const phase = `outbox ${count.toLocaleString('en-US')}`;
  await bed.smtp!.down();
  const red = await startBenchNodeRed();
  try {
    await sleep(1000);
    const idle = red.memory();
    await red.deploy(sendFlow(bed, count, false));
    const dir = path.join(red.userDirPath, 'm365-mail', 'outbox', 'send');
    const queued = (): number => storedMailCount(dir);
    const deadline = Date.now() + Math.max(120_000, config.stallMs * 4);
    while (queued() < count && Date.now() < deadline) await sleep(200);
    const filled = queued();
    // Settle, so the msgs Node-RED itself queued between the nodes are gone.
    await sleep(3000);
    const after = red.memory();
    results.detail(phase, { idle, after, filled });
    results.add({
      phase, subject: 'm365-mail-out, server down, mails waiting in the outbox', value: round(after?.rssMb ?? NaN), unit: 'MB RSS',
      note: `${filled} mails on disk; idle ${round(idle?.rssMb ?? NaN)} MB before the deploy; peak ${round(after?.peakMb ?? NaN)} MB while the ${count.toLocaleString('en-US')} msgs were taken`,
      met: filled === count, target: 'all written; only sequence numbers in memory',
    });
  } finally {
    await red.stop();
    await bed.smtp!.up();
  }
}

export async function sendPhase(config: BenchConfig, results: Results): Promise<void> {
  const count = config.sendMails;
  const phase = `send ${count.toLocaleString('en-US')}`;
  const bed = await startTestBed({ smtp: true });
  try {
    const scripts: SendRun[] = [];
    const nodes: SendRun[] = [];
    for (let r = 0; r < Math.max(1, config.drainRepeat); r++) {
      scripts.push(await runScript(bed, count));
      nodes.push(await runNode(bed, count, config));
    }
    const script = best(scripts);
    const node = best(nodes);
    results.detail(phase, { script, node, allRuns: { script: scripts, node: nodes } });
    const rate = (run: SendRun): number => (run.ok ? (count - 1) / (run.steadySeconds ?? NaN) : NaN);
    results.add({ phase, subject: 'nodemailer script, one pooled connection', value: script.ok ? round(rate(script)) : 'failed', unit: 'mails/s', note: script.ok ? `${round(script.totalSeconds ?? NaN)} s from start` : script.error });
    const ratio = rate(node) / rate(script);
    // Beside the steady rate: from the first mail handed over, composing included on both sides
    // (the script composes most of its mails while it connects, before its first mail is accepted).
    const quickest = (runs: SendRun[]): number => Math.min(...runs.filter((run) => run.ok).map((run) => run.handedSeconds ?? Infinity));
    const handedRatio = quickest(scripts) / quickest(nodes);
    results.add({
      phase, subject: 'm365-mail-out (pace 0, outbox on disk)', value: node.ok ? round(rate(node)) : 'failed', unit: 'mails/s',
      target: Number.isFinite(ratio) ? `${round(ratio)}× the script, goal ≥ 0.9×` : 'goal ≥ 0.9× the script', met: Number.isFinite(ratio) && ratio >= 0.9,
      note: node.ok
        ? `${round(node.totalSeconds ?? NaN)} s from the deploy; first mail handed over → last accepted ${round(quickest(nodes))} s vs the script's ${round(quickest(scripts))} s (${round(handedRatio)}×)`
        : node.error,
    });
    await outboxMemory(bed, config.outboxMails, config, results);
  } finally {
    await bed.stop();
  }
}
