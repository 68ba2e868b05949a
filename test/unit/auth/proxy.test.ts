import assert from 'node:assert/strict';
import { isNoProxy, resolveProxy } from '../../../src/net/proxy';
import { parseRetryAfter } from '../../../src/auth/network-client';

describe('auth/proxy resolution', () => {
  const target = 'https://login.microsoftonline.com/contoso/oauth2/v2.0/token';

  it('uses no proxy when none is configured', () => {
    assert.equal(resolveProxy(target, '', {}), undefined);
  });

  it('prefers the explicit proxy over HTTPS_PROXY, even for NO_PROXY hosts', () => {
    const url = resolveProxy(target, 'http://explicit:3128', { HTTPS_PROXY: 'http://env:8080', NO_PROXY: '*' });
    assert.equal(url?.host, 'explicit:3128');
  });

  it('reads https_proxy before HTTPS_PROXY, and assumes http:// without a scheme', () => {
    assert.equal(resolveProxy(target, undefined, { https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:2' })?.host, 'lower:1');
    assert.equal(resolveProxy(target, undefined, { HTTPS_PROXY: 'proxy.corp:3128' })?.href, 'http://proxy.corp:3128/');
  });

  it('uses HTTP_PROXY for http targets only', () => {
    assert.equal(resolveProxy('http://example.com/', undefined, { HTTPS_PROXY: 'http://s:1' }), undefined);
    assert.equal(resolveProxy('http://example.com/', undefined, { HTTP_PROXY: 'http://p:1' })?.host, 'p:1');
  });

  it('keeps proxy credentials in the resolved URL', () => {
    const url = resolveProxy(target, 'http://us%40er:p%3Ass@proxy:3128', {});
    assert.equal(decodeURIComponent(url?.username ?? ''), 'us@er');
    assert.equal(decodeURIComponent(url?.password ?? ''), 'p:ss');
  });

  it('accepts IMAP/POP targets given as host and port', () => {
    const env = { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'outlook.office365.com:995' };
    assert.equal(resolveProxy({ host: 'outlook.office365.com', port: 993 }, undefined, env)?.host, 'p:1');
    assert.equal(resolveProxy({ host: 'outlook.office365.com', port: 995 }, undefined, env), undefined);
  });

  it('rejects unsupported proxy schemes with a config error', () => {
    assert.throws(() => resolveProxy(target, 'socks5://p:1080', {}), { kind: 'config' });
  });

  describe('NO_PROXY', () => {
    const cases: Array<[string, string, number, boolean]> = [
      ['*', 'anything.example', 443, true],
      ['example.com', 'example.com', 443, true],
      ['example.com', 'login.example.com', 443, true],
      ['example.com', 'badexample.com', 443, false],
      ['.example.com', 'example.com', 443, true],
      ['.example.com', 'a.b.example.com', 443, true],
      ['*.example.com', 'a.example.com', 443, true],
      ['example.com:8443', 'example.com', 8443, true],
      ['example.com:8443', 'example.com', 443, false],
      ['127.0.0.1', '127.0.0.1', 443, true],
      ['127.0.0.1', '127.0.0.2', 443, false],
      ['127.0.0.1:8443', '127.0.0.1', 8443, true],
      ['127.0.0.1:8443', '127.0.0.1', 443, false],
      ['10.0.0.0/8', '10.1.2.3', 443, true],
      ['10.0.0.0/8', '11.1.2.3', 443, false],
      ['10.0.0.0/8', 'ten.example', 443, false],
      ['[::1]:993', '::1', 993, true],
      ['::1', '[::1]', 443, true],
      ['fd00::/8', 'fd12::1', 443, true],
      ['EXAMPLE.com', 'Login.Example.COM.', 443, true],
      ['', 'example.com', 443, false],
    ];
    for (const [noProxy, host, port, expected] of cases) {
      it(`${expected ? 'exempts' : 'does not exempt'} ${host}:${port} with NO_PROXY="${noProxy}"`, () => {
        assert.equal(isNoProxy(noProxy, host, port), expected);
      });
    }

    it('splits lists on commas and spaces and honours no_proxy for env proxies', () => {
      const env = { HTTPS_PROXY: 'http://p:1', no_proxy: 'localhost, .corp  127.0.0.1' };
      assert.equal(resolveProxy('https://127.0.0.1:8443/x', undefined, env), undefined);
      assert.equal(resolveProxy('https://mail.corp/x', undefined, env), undefined);
      assert.equal(resolveProxy('https://login.microsoftonline.com/x', undefined, env)?.host, 'p:1');
    });
  });
});

describe('auth/network-client Retry-After', () => {
  it('parses delta seconds and HTTP dates', () => {
    assert.equal(parseRetryAfter('30'), 30_000);
    const now = Date.UTC(2025, 0, 1, 0, 0, 0);
    assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', now), 10_000);
    assert.equal(parseRetryAfter(undefined), undefined);
    assert.equal(parseRetryAfter('soon'), undefined);
  });
});
