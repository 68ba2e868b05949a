/**
 * What m365-pop3-in puts on the wire, read in plaintext: the node's account points at a relay that
 * terminates TLS with the test bed's server certificate (trusted like the real server's), records
 * every line the node writes and relays it to Dovecot. Exchange drops a session whose command line
 * exceeds 512 bytes (`-ERR Protocol error. Connection is closed. 10`), and a real token is longer
 * than that: it has to go as its own SASL line after `AUTH XOAUTH2` and `+`.
 */
import assert from 'node:assert/strict';
import { MAX_COMMAND_LINE_BYTES } from '../../../src/pop3/client';
import { builtNodes, helper } from '../../support/helper';
import { useNodeRedBed } from './node-red-bed';
import {
  MAILBOX, SecondClient, attachToFlow, debugLines, errorCalls, mail, pop3Flow, startRecordingRelay, subjects, type RecordingRelay,
} from './pop3-in-support';

describe('m365-pop3-in on the wire (Node-RED runtime, TLS-terminating recorder, test bed)', function () {
  this.timeout(20000);
  // One user directory for the suite's single test.
  const { bed } = useNodeRedBed({ userDirPrefix: 'm365-pop3-nr-', scope: 'suite' });
  let relay: RecordingRelay;

  before(async function () {
    relay = await startRecordingRelay(bed);
    await new SecondClient(bed).empty();
  });
  after(async function () {
    await relay?.close();
  });

  it('never sends a command line over 512 bytes: the token goes alone after AUTH XOAUTH2 and "+", and no password is sent', async function () {
    await bed.dovecot.deliverMany(MAILBOX, subjects('wire', 3).map((s) => mail(s)));
    const { flow, credentials } = pop3Flow(bed, {
      props: { mode: 'trigger', disposition: 'delete' },
      account: { pop3Host: relay.host, pop3Port: String(relay.port) },
    });
    await helper.load(builtNodes(), flow, credentials);
    const run = attachToFlow();
    await run.trigger('check');
    await run.out.waitForCount(3);
    await run.trigger('check'); // an empty poll: sign in, UIDL, QUIT
    assert.deepEqual(errorCalls(run.node), []);

    const { lines, unterminated } = relay.linesSent();
    assert.equal(unterminated, '', 'every line the node sent ends with CRLF');
    const authAt = lines.flatMap((line, i) => (line === 'AUTH XOAUTH2' ? [i] : []));
    assert.equal(authAt.length, 2, 'one sign-in per poll, each with a bare AUTH XOAUTH2');
    const saslResponses = new Set(authAt.map((i) => i + 1));
    for (const i of saslResponses) {
      const response = lines[i];
      const decoded = Buffer.from(response, 'base64').toString('utf8');
      assert.ok(decoded.startsWith(`user=${MAILBOX}\x01auth=Bearer `) && decoded.endsWith('\x01\x01'), 'the line after "+" is the XOAUTH2 client response');
      assert.ok(response.length + 2 > MAX_COMMAND_LINE_BYTES, `the response (${response.length + 2} bytes) is longer than a command may be: the two-step form is needed`);
    }
    const commands = lines.filter((_, i) => !saslResponses.has(i));
    const tooLong = commands.filter((line) => Buffer.byteLength(line, 'latin1') + 2 > MAX_COMMAND_LINE_BYTES);
    assert.deepEqual(tooLong, [], 'no command line over 512 bytes, CRLF included');
    const verbs = [...new Set(commands.map((line) => line.split(' ')[0]))].sort();
    assert.deepEqual(verbs, ['AUTH', 'CAPA', 'DELE', 'LIST', 'QUIT', 'RETR', 'UIDL'], 'only these commands; no USER, PASS or APOP');
    assert.ok(commands.every((line) => line.startsWith('AUTH') ? line === 'AUTH XOAUTH2' : true), 'no initial response on the AUTH line');
    assert.equal(commands.filter((line) => line === 'QUIT').length, 2, 'both sessions end with QUIT');
    assert.deepEqual(commands.slice(-4), ['CAPA', 'AUTH XOAUTH2', 'UIDL', 'QUIT'], 'the empty poll asks CAPA, signs in, lists and QUITs');

    // The node's debug trace shows the same lines, the token hidden.
    const traced = debugLines(run.node).filter((line) => line.startsWith('POP3 C: ')).map((line) => line.slice('POP3 C: '.length));
    assert.deepEqual(traced.filter((line) => !line.startsWith('<XOAUTH2')), commands, 'the debug trace lists every command sent');
    assert.ok(!debugLines(run.node).some((line) => [...saslResponses].some((i) => line.includes(lines[i].slice(40, 120)))), 'no token in the debug log');
  });
});
