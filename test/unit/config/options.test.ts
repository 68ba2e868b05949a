/**
 * The node options table is the one place of option values and defaults: the runtime parsers, the
 * editors (test/unit/contract.test.ts) and the engines read it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseImapActionConfig } from '../../../src/config/action-config';
import { parseMailOutConfig } from '../../../src/config/mail-out-config';
import { NODE_OPTIONS } from '../../../src/config/options';
import { parseImapReaderConfig, parsePop3ReaderConfig } from '../../../src/config/reader-config';
import { ENGINE_DEFAULTS } from '../../../src/engine/options';

describe('config/options: one table of node options', () => {
  it('gives every parser its defaults: an empty node has the table\'s values', () => {
    const defaults = (type: keyof typeof NODE_OPTIONS): Record<string, unknown> =>
      Object.fromEntries(Object.entries(NODE_OPTIONS[type]).map(([name, spec]) => [name, spec.default]));
    const { customCriteria, ...imapDefaults } = defaults('m365-imap-in');
    assert.equal(customCriteria, '');
    const imap = parseImapReaderConfig({});
    assert.deepEqual(imap.errors, []);
    assert.deepEqual({ ...imap.config, customCriteria: undefined }, { ...imapDefaults, customCriteria: undefined });
    assert.deepEqual(parsePop3ReaderConfig({}).config, defaults('m365-pop3-in'));
    assert.deepEqual(parseImapActionConfig({ action: 'read' }).config, defaults('m365-imap-action'));
    assert.deepEqual(parseMailOutConfig({}).config, defaults('m365-mail-out'));
  });

  it('checks values and limits from the table', () => {
    const { errors } = parsePop3ReaderConfig({ mode: 'idle', interval: String(NODE_OPTIONS['m365-pop3-in'].interval.min - 1), batchSize: '10001' });
    assert.deepEqual(errors.map((e) => e.message), [
      'interval must be a whole number from 5 to 86400 (got "4")',
      'batchSize must be a whole number from 1 to 10000 (got "10001")',
      'Unknown mode "idle"',
    ]);
  });

  it('gives the engines their defaults', () => {
    assert.equal(ENGINE_DEFAULTS.imap.intervalSec, NODE_OPTIONS['m365-imap-in'].interval.default);
    assert.equal(ENGINE_DEFAULTS.pop3.intervalSec, NODE_OPTIONS['m365-pop3-in'].interval.default);
    assert.equal(ENGINE_DEFAULTS.pop3.disposition, NODE_OPTIONS['m365-pop3-in'].disposition.default);
    assert.equal(ENGINE_DEFAULTS.batchSize, NODE_OPTIONS['m365-imap-in'].batchSize.default);
  });

  it('has the rows of the sending and acting nodes (CONTRACT.md)', () => {
    assert.equal(NODE_OPTIONS['m365-mail-out'].pace.default, 30);
    assert.deepEqual(Object.keys(NODE_OPTIONS['m365-mail-out']), ['mailbox', 'to', 'cc', 'bcc', 'subject', 'pace', 'attachmentDir']);
    assert.deepEqual(Object.keys(NODE_OPTIONS['m365-imap-action']), ['mailbox', 'folder', 'action', 'keyword', 'target', 'actionFromMsg', 'output']);
  });

  it('lists in every form select exactly the table\'s values, in its order (built nodes/<type>.html)', () => {
    for (const [type, options] of Object.entries(NODE_OPTIONS)) {
      const html = readFileSync(path.resolve(__dirname, '../../../nodes', `${type}.html`), 'utf8');
      for (const [name, spec] of Object.entries(options)) {
        if (spec.kind !== 'choice') continue;
        const select = new RegExp(`<select id="node-input-${name}"[^>]*>([\\s\\S]*?)</select>`).exec(html);
        if (!select) continue;
        const values = [...select[1].matchAll(/<option value="([^"]*)"/g)].map((m) => m[1]);
        assert.deepEqual(values, spec.values, `${type}.${name}`);
      }
    }
  });
});
