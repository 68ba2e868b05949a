import assert from 'node:assert/strict';
import tls from 'node:tls';
import { APPS, CONTOSO } from '../../env/identity/directory';
import type { IdentityServer } from '../../env/identity/server';
import { M365MailError } from '../../../src/core/errors';
import { openTunnel } from '../../../src/net/proxy';
import { createTokenProvider, type M365TokenProvider, type TokenProviderDeps } from '../../../src/auth/token-provider';
import { customAccount, disposeAfterEach, startCountingProxy, startTestIdentityServer, type CountingProxy } from './helpers';

describe('auth integration: outbound proxy', function () {
  this.timeout(20_000);
  let server: IdentityServer;
  let proxy: CountingProxy;
  const track = disposeAfterEach();

  function daemon(proxySetting: string, deps: TokenProviderDeps = {}): M365TokenProvider {
    return track(createTokenProvider(customAccount(server, {
      tenant: CONTOSO.tenantId, clientId: APPS.daemon.clientId, credentials: { clientSecret: APPS.daemon.secret }, proxy: proxySetting,
    }), deps));
  }

  before(async () => { server = await startTestIdentityServer(); });
  after(async () => { await server.close(); });
  beforeEach(async () => { proxy = await startCountingProxy(); });
  afterEach(async () => {
    await proxy.close();
  });

  it('sends discovery and token requests through the account proxy via CONNECT', async () => {
    const token = await daemon(proxy.url, { env: {} }).getAccessToken('imap');
    assert.ok(token.length > 100);
    assert.ok(proxy.tunnels.length >= 2, `tunnels: ${proxy.tunnels.join(', ')}`);
    assert.ok(proxy.tunnels.every((t) => t === server.hostPort));
  });

  it('uses HTTPS_PROXY from the environment when the account sets none', async () => {
    await daemon('', { env: { HTTPS_PROXY: proxy.url } }).getAccessToken('imap');
    assert.ok(proxy.tunnels.length >= 2);
  });

  it('honours NO_PROXY with host and port, and never contacts login.microsoftonline.com for a custom cloud', async () => {
    // Any request to another host (instance discovery at login.microsoftonline.com) would show up as a tunnel.
    const [, port] = server.hostPort.split(':');
    await daemon('', { env: { HTTPS_PROXY: proxy.url, NO_PROXY: `localhost,127.0.0.1:${port}` } }).getAccessToken('imap');
    assert.deepEqual(proxy.tunnels, []);
  });

  it('sends proxy credentials from the proxy URL', async () => {
    const authProxy = await startCountingProxy({ user: 'svc@corp', password: 'p:ss w' });
    try {
      const url = new URL(authProxy.url);
      url.username = encodeURIComponent('svc@corp');
      url.password = encodeURIComponent('p:ss w');
      await daemon(url.toString(), { env: {} }).getAccessToken('imap');
      assert.ok(authProxy.tunnels.length >= 2);
    } finally {
      await authProxy.close();
    }
  });

  it('reports a proxy that wants credentials as a config error telling where to put them', async () => {
    const authProxy = await startCountingProxy({ user: 'u', password: 'p' });
    try {
      const err = await daemon(authProxy.url, { env: {} }).getAccessToken('imap').then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof M365MailError);
      assert.equal(err.kind, 'config');
      assert.equal(err.code, 'HTTP407');
      assert.match(err.fix, /http:\/\/user:password@host:port/);
    } finally {
      await authProxy.close();
    }
  });

  it('opens a reusable tunnel socket for a TLS connection (as IMAP/POP will)', async () => {
    const [host, port] = server.hostPort.split(':');
    const socket = await openTunnel({ proxy: new URL(proxy.url), host, port: Number(port), timeoutMs: 5000 });
    const secure = tls.connect({ socket, host, ca: undefined });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    assert.equal(secure.authorized, true);
    secure.destroy();
    assert.deepEqual(proxy.tunnels, [server.hostPort]);
  });

  it('rejects a tunnel the proxy refuses with a clear error', async () => {
    const err = await openTunnel({ proxy: new URL(proxy.url), host: 'example.com', port: 993, timeoutMs: 5000 }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof M365MailError);
    assert.equal(err.kind, 'network');
    assert.match(err.message, /refused the tunnel to example\.com:993/);
  });
});
