import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { normalizeThumbprint, proxyWithCredentials, splitProxyCredentials, validateAccountConfig, type AccountConfig } from '../../../src/auth/account-config';

const TENANT = '85d56e73-1db7-448c-bbcc-afeb9120ddff';
const CLIENT = 'ea1239f1-d7fa-4758-95b3-4f249f663f34';
const SECRET = 'Dmn8Q~k2v9x1TqWZr3LpYb7NcHs4JfMe0aUiGo5x';
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PEM = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const SHA256 = 'AB:CD:'.repeat(16).slice(0, 95);

function secretConfig(overrides: Partial<AccountConfig> = {}): AccountConfig {
  return { cloud: 'global', tenant: TENANT, clientId: CLIENT, authType: 'client-secret', credentials: { clientSecret: SECRET }, ...overrides };
}

function messages(config: AccountConfig): string[] {
  const problems = validateAccountConfig(config);
  for (const p of problems) {
    assert.equal(p.kind, 'config');
    assert.ok(p.fix.length > 10, `fix text for "${p.message}"`);
  }
  return problems.map((p) => p.message);
}

describe('auth/account-config', () => {
  it('accepts a complete client-secret configuration', () => {
    assert.deepEqual(messages(secretConfig()), []);
  });

  it('accepts a tenant given as a verified domain', () => {
    assert.deepEqual(messages(secretConfig({ tenant: 'contoso.onmicrosoft.com' })), []);
  });

  it('requires a tenant', () => {
    assert.match(messages(secretConfig({ tenant: '' })).join(), /tenant is missing/);
  });

  it('rejects a tenant that is neither GUID, domain nor alias', () => {
    assert.match(messages(secretConfig({ tenant: 'contoso' })).join(), /neither a tenant ID/);
  });

  it('refuses common/organizations/consumers for app-only types up front', () => {
    for (const tenant of ['common', 'organizations', 'consumers']) {
      const problems = validateAccountConfig(secretConfig({ tenant }));
      assert.equal(problems.length, 1);
      assert.match(problems[0].fix, /App-only needs your tenant ID or domain/);
    }
  });

  it('allows organizations and common for delegated sign-in', () => {
    assert.deepEqual(messages({ tenant: 'organizations', clientId: CLIENT, authType: 'device-code' }), []);
    assert.deepEqual(messages({ tenant: 'common', clientId: CLIENT, authType: 'auth-code' }), []);
  });

  it('requires the client ID to be a GUID', () => {
    assert.match(messages(secretConfig({ clientId: '' })).join(), /client ID is missing/);
    assert.match(messages(secretConfig({ clientId: 'My Mail App' })).join(), /is not a GUID/);
  });

  it('requires a secret for client-secret and says to copy the Value, not the Secret ID', () => {
    const [missing] = validateAccountConfig(secretConfig({ credentials: {} }));
    assert.match(missing.message, /client secret is missing/);
    assert.match(missing.fix, /\*Value\*.*not the Secret ID/);
    const [looksLikeId] = validateAccountConfig(secretConfig({ credentials: { clientSecret: '0b0e6f3c-1d2e-4f50-9a61-7b8c9d0e1f2a' } }));
    assert.match(looksLikeId.message, /looks like a Secret ID/);
  });

  it('accepts a SHA-256 thumbprint with colons and a PEM key for client-certificate', () => {
    assert.deepEqual(messages({
      tenant: TENANT, clientId: CLIENT, authType: 'client-certificate',
      certificateThumbprint: SHA256, credentials: { privateKey: PEM },
    }), []);
  });

  it('accepts a 40-digit SHA-1 thumbprint with spaces', () => {
    assert.deepEqual(messages({
      tenant: TENANT, clientId: CLIENT, authType: 'client-certificate',
      certificateThumbprint: '12 34 56 78 9a bc de f0 12 34 56 78 9a bc de f0 12 34 56 78', credentials: { privateKey: PEM },
    }), []);
  });

  it('rejects a missing or malformed thumbprint and a missing, certificate-only or encrypted key', () => {
    const base: AccountConfig = { tenant: TENANT, clientId: CLIENT, authType: 'client-certificate' };
    assert.match(messages({ ...base, credentials: { privateKey: PEM } }).join(), /thumbprint is missing/);
    assert.match(messages({ ...base, certificateThumbprint: 'abc123', credentials: { privateKey: PEM } }).join(), /not a SHA-256/);
    assert.match(messages({ ...base, certificateThumbprint: SHA256 }).join(), /private key is missing/);
    assert.match(messages({ ...base, certificateThumbprint: SHA256, credentials: { privateKey: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----' } }).join(), /not a PEM private key/);
    assert.match(messages({ ...base, certificateThumbprint: SHA256, credentials: { privateKey: '-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n-----END ENCRYPTED PRIVATE KEY-----' } }).join(), /encrypted/);
    assert.match(messages({ ...base, certificateThumbprint: SHA256, credentials: { privateKey: '-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----' } }).join(), /could not be read/);
  });

  it('requires an https authority host without a path for a custom cloud', () => {
    assert.match(messages(secretConfig({ cloud: 'custom', authorityHost: '' })).join(), /https authority host/);
    assert.match(messages(secretConfig({ cloud: 'custom', authorityHost: 'http://login.example' })).join(), /https authority host/);
    assert.match(messages(secretConfig({ cloud: 'custom', authorityHost: 'https://login.example/tenant' })).join(), /must not contain a path/);
    assert.deepEqual(messages(secretConfig({ cloud: 'custom', authorityHost: 'https://127.0.0.1:8443' })), []);
  });

  it('rejects ports outside 1-65535', () => {
    assert.match(messages(secretConfig({ imapPort: 0 })).join(), /IMAP port/);
    assert.match(messages(secretConfig({ pop3Port: '70000' })).join(), /POP3 port/);
    assert.deepEqual(messages(secretConfig({ imapPort: '993', pop3Port: 995 })), []);
  });

  it('checks the proxy URL syntax and never echoes its password', () => {
    assert.deepEqual(messages(secretConfig({ proxy: 'http://user:pa55@proxy.local:3128' })), []);
    assert.match(messages(secretConfig({ proxy: 'socks5://proxy:1080' })).join(), /not supported/);
    const bad = messages(secretConfig({ proxy: 'http://user:topsecret@' })).join();
    assert.match(bad, /proxy/i);
    assert.doesNotMatch(bad, /topsecret/);
  });

  it('never puts the client secret into a message', () => {
    const problems = validateAccountConfig(secretConfig({ tenant: 'bad tenant', clientId: 'x' }));
    for (const p of problems) assert.ok(!p.toString().includes(SECRET));
  });

  it('normalizes thumbprints to upper-case hex and names the algorithm', () => {
    assert.deepEqual(normalizeThumbprint(`ab:cd ${'e'.repeat(60)}`), { algorithm: 'sha256', hex: `ABCD${'E'.repeat(60)}` });
    assert.equal(normalizeThumbprint('a'.repeat(40))?.algorithm, 'sha1');
    assert.equal(normalizeThumbprint('zz'), undefined);
  });
});

describe('proxy credentials (kept out of the proxy URL property)', () => {
  it('splits user and password out of an old flow\'s proxy URL, decoded', () => {
    assert.deepEqual(splitProxyCredentials('http://corp%5Cjane:p%40ss%3Aw%25rd@proxy.example:3128'),
      { proxy: 'http://proxy.example:3128/', username: 'corp\\jane', password: 'p@ss:w%rd' });
    assert.deepEqual(splitProxyCredentials('http://proxy.example:3128'), { proxy: 'http://proxy.example:3128' });
    assert.deepEqual(splitProxyCredentials(''), { proxy: '' });
    assert.deepEqual(splitProxyCredentials('not a url'), { proxy: 'not a url' });
  });

  it('puts the credentials\' user and password into the URL the connections use, any character intact', () => {
    const url = new URL(proxyWithCredentials('http://proxy.example:3128', 'corp\\jane', 'p@ss:w%rd'));
    assert.equal(decodeURIComponent(url.username), 'corp\\jane');
    assert.equal(decodeURIComponent(url.password), 'p@ss:w%rd');
    assert.equal(url.host, 'proxy.example:3128');
    assert.equal(proxyWithCredentials('http://proxy.example:3128', undefined, undefined), 'http://proxy.example:3128');
    assert.equal(proxyWithCredentials('', 'jane', 'pw'), '', 'no proxy property: HTTPS_PROXY decides, credentials unused');
  });

  it('a round trip through split and join gives the same proxy authorization', () => {
    const original = 'http://jane:s%C3%A9cret%21@proxy.example:8080';
    const split = splitProxyCredentials(original);
    const joined = new URL(proxyWithCredentials(split.proxy, split.username, split.password));
    assert.equal(decodeURIComponent(joined.password), 'sécret!');
    assert.equal(decodeURIComponent(joined.username), 'jane');
  });
});
