/**
 * The public contract (node types, property names and defaults) as the editor registers it and the
 * README documents it. Flows are kept for years: renaming a property breaks them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';

const root = path.resolve(__dirname, '../..');

const CONTRACT: Record<string, { defaults: Record<string, string>; credentials?: string[] }> = {
  'm365-account': {
    defaults: { name: '', cloud: 'global', authorityHost: '', tenant: '', clientId: '', authType: 'client-secret', certificateThumbprint: '', imapHost: 'outlook.office365.com', imapPort: '993', pop3Host: 'outlook.office365.com', pop3Port: '995', resource: '', proxy: '' },
    credentials: ['clientSecret', 'privateKey', 'proxyPassword', 'proxyUsername'],
  },
  'm365-imap-in': {
    defaults: { account: '', mailbox: '', folder: 'INBOX', mode: 'idle', interval: '60', criteria: 'new', customCriteria: '', disposition: 'none', moveTo: '', attachments: 'include', attachmentDir: '', maxAttachmentBytes: '26214400', output: 'parsed', batchSize: '100' },
  },
  'm365-pop3-in': {
    defaults: { account: '', mailbox: '', mode: 'poll', interval: '300', disposition: 'keep', attachments: 'include', attachmentDir: '', maxAttachmentBytes: '26214400', output: 'parsed', batchSize: '100' },
  },
  'm365-imap-action': {
    defaults: { account: '', mailbox: '', folder: 'INBOX', action: 'read', keyword: '', target: '', actionFromMsg: 'false' },
  },
  'm365-mail-out': {
    defaults: { account: '', mailbox: '', to: '', cc: '', bcc: '', subject: '', pace: '30', attachmentDir: '' },
  },
};

interface Definition {
  defaults: Record<string, { value: unknown }>;
  credentials?: Record<string, unknown>;
  category: string;
}

/** Runs the built editor script of a node with a stand-in RED and returns what it registered. */
function editorDefinition(type: string): Definition {
  const html = readFileSync(path.join(root, 'nodes', `${type}.html`), 'utf8');
  const script = /<script type="text\/javascript">([\s\S]*?)<\/script>/.exec(html)?.[1];
  assert.ok(script, `${type}.html has an editor script`);
  const registered: Record<string, Definition> = {};
  const RED = { nodes: { registerType: (name: string, def: Definition) => { registered[name] = def; } }, _: (key: string) => key };
  vm.runInNewContext(script, { RED, $: () => ({}), window: {} });
  assert.ok(registered[type], `${type} registered by its editor script`);
  return registered[type];
}

describe('public contract', function () {
  for (const [type, contract] of Object.entries(CONTRACT)) {
    it(`${type}: the editor registers every contract property with its default`, function () {
      const definition = editorDefinition(type);
      for (const [property, value] of Object.entries(contract.defaults)) {
        assert.ok(property in definition.defaults, `${type}.${property} is a property`);
        assert.equal(String(definition.defaults[property].value), value, `${type}.${property} defaults to "${value}"`);
      }
      assert.deepEqual(Object.keys(definition.credentials ?? {}).sort(), (contract.credentials ?? []).sort());
    });

    it(`${type}: README documents every property`, function () {
      const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
      for (const property of Object.keys(contract.defaults)) assert.ok(readme.includes(`\`${property}\``), `README mentions ${type}.${property}`);
    });

    it(`${type}: help exists in every language`, function () {
      for (const lang of ['en-US', 'de']) {
        const help = readFileSync(path.join(root, 'nodes/locales', lang, `${type}.html`), 'utf8');
        assert.match(help, new RegExp(`data-help-name="${type}"`));
      }
    });
  }

  it('README troubleshooting covers every AADSTS code and server refusal the issue names', function () {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    for (const code of ['700016', '7000215', '7000222', '7000218', '90002', '65001', '70011', '700022', '50076', '500011', '9001023', '50194']) {
      assert.ok(readme.includes(`AADSTS${code}`), `README explains AADSTS${code}`);
    }
    for (const text of ['AUTHENTICATE failed', 'User is authenticated but not connected', 'AccessTokenExpired', '-ERR Authentication failure', '-ERR Protocol error']) {
      assert.ok(readme.includes(text), `README explains "${text}"`);
    }
    for (const code of ['535 5.7.3', '5.7.139', '550 5.7.30', '5.7.60', 'SendAsDenied', '530 5.7.57', '421 4.7.66', '4.3.2', '451 4.7.500', '550 5.1.8']) {
      assert.ok(readme.includes(code), `README explains SMTP "${code}"`);
    }
  });

  it('package.json declares the node-red metadata users and the palette rely on', function () {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as Record<string, unknown> & { 'node-red': { version: string; nodes: Record<string, string> }; keywords: string[]; engines: { node: string } };
    assert.equal(pkg.name, '@m365-mail/node-red-m365-mail');
    assert.equal(pkg['node-red'].version, '>=4.0.0');
    assert.deepEqual(Object.keys(pkg['node-red'].nodes).sort(), Object.keys(CONTRACT).sort());
    for (const keyword of ['node-red', 'microsoft-365', 'office-365', 'exchange-online', 'imap', 'pop3', 'oauth2', 'email']) assert.ok(pkg.keywords.includes(keyword), keyword);
    assert.equal(pkg.engines.node, '>=20');
    assert.ok(pkg.license && pkg.repository && pkg.bugs);
    const runtimeDeps = Object.keys(pkg.dependencies as Record<string, string>);
    assert.ok(runtimeDeps.length <= 6, `at most six runtime dependencies (${runtimeDeps.join(', ')})`);
    for (const dep of ['imapflow', '@azure/msal-node', 'mailparser']) assert.ok(runtimeDeps.includes(dep), dep);
  });
});
