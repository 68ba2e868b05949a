/**
 * Flows switch from node-red-node-email's "e-mail" node to m365-mail-out without changing a msg:
 * the same msg given to both nodes (theirs with its XOAUTH2 token from msg.token) produces the same
 * mail at the bed's SMTP server, compared as MIME with the parts that must differ normalised
 * (Message-ID, Date, boundaries).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { emailNodePackage } from '../../../bench/node-red';
import { USERS } from '../../env/identity/directory';
import { builtNodes, helper } from '../../support/helper';
import { Collector } from './imap-in-support';
import { useNodeRedBed } from './node-red-bed';
import { waitFor } from './wait-for';

/** The parts two composers may do differently: IDs, dates and generated boundaries. */
function normalise(raw: Buffer): string {
  let text = raw.toString('latin1');
  const boundaries = [...new Set([...text.matchAll(/boundary="([^"]+)"/g)].map((m) => m[1]))];
  boundaries.forEach((boundary, i) => { text = text.split(boundary).join(`BOUNDARY${i}`); });
  return text
    .replace(/^Message-ID: .*\r\n/mi, '')
    .replace(/^Date: .*\r\n/mi, '');
}

describe('m365-mail-out composes the mail node-red-node-email composes', function () {
  this.timeout(120000);
  const { bed } = useNodeRedBed({ userDirPrefix: 'm365-mailout-compat-', smtp: true, scope: 'suite' });

  let emailNode: (RED: unknown) => void;
  before(function () {
    this.timeout(300000);
    emailNode = require(path.join(emailNodePackage(), '61-email.js'));
  });
  afterEach(() => helper.unload());

  async function token(): Promise<string> {
    const account = bed.accountFor('daemon');
    const response = await fetch(`${account.properties.authorityHost}/${account.properties.tenant}/oauth2/v2.0/token`, {
      method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: account.properties.clientId, client_secret: account.credentials.clientSecret!, scope: `${account.properties.resource}/.default` }),
    });
    return ((await response.json()) as { access_token: string }).access_token;
  }

  const cases: Array<[string, Record<string, unknown>]> = [
    ['plain text', { payload: 'Disk almost full on host-7', topic: 'Alert', to: USERS.bob }],
    ['HTML with a plain-text part', { payload: '<h1>Report</h1><p>All <b>green</b></p>', plaintext: 'Report: all green', topic: 'Daily report', to: USERS.bob }],
    // msg.description: node-red-node-email's default text comes from its catalogue, not loaded here.
    ['a Buffer payload as attachment', { payload: Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]), filename: 'chart.png', description: 'The chart', topic: 'Chart', to: USERS.bob }],
    ['attachments, cc, bcc, replyTo, threading, priority and headers', {
      payload: 'Ümlauts and a long line '.repeat(10), topic: 'Re: Order 7 – Grüße', to: `${USERS.bob}, Carol <carol@example.com>`, cc: 'dave@example.com', bcc: ['erin@example.com'],
      replyTo: 'support@contoso.com', inReplyTo: '<order7@example.com>', references: '<order7@example.com>', priority: 'high', headers: { 'X-Ticket': '4711' },
      attachments: [{ filename: 'notes.txt', content: 'line 1\nline 2' }, { filename: 'data.bin', content: Buffer.from([0, 1, 2, 255]) }],
    }],
    ['no topic: the default subject', { payload: 'x', to: USERS.bob }],
    ['a reader\'s msg answered through header.message-id', { payload: 'Thanks', topic: 'Question', to: USERS.bob, header: { 'message-id': '<q1@example.com>' } }],
  ];

  for (const [what, msg] of cases) {
    it(`gives the same MIME for ${what}`, async function () {
      const smtp = bed.smtp!;
      smtp.reset();
      const account = bed.accountFor('daemon');
      await helper.load([...builtNodes(), emailNode], [
        account.node('acc'),
        { id: 'ours', type: 'm365-mail-out', account: 'acc', mailbox: USERS.alice, pace: '0', wires: [['out']] },
        { id: 'out', type: 'helper' },
        { id: 'theirs', type: 'e-mail', server: smtp.host, port: String(smtp.port), secure: false, tls: true, authtype: 'XOAUTH2', saslformat: false, token: 'token', name: '', wires: [] },
      ], { acc: account.credentials, theirs: { userid: USERS.alice } });
      const out = new Collector(helper.getNode('out'));
      (helper.getNode('theirs') as unknown as { receive(m: unknown): void }).receive({ ...msg, token: await token() });
      await waitFor(() => smtp.accepted.length === 1, 'node-red-node-email\'s mail', 20000);
      (helper.getNode('ours') as unknown as { receive(m: unknown): void }).receive({ ...msg });
      await out.waitForCount(1, 20000);
      const [theirs, ours] = smtp.accepted;
      assert.deepEqual(ours.to.sort(), theirs.to.sort(), 'same envelope recipients');
      assert.equal(ours.from, theirs.from, 'same envelope sender');
      assert.equal(normalise(ours.raw), normalise(theirs.raw));
    });
  }
});
