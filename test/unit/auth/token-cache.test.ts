import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { INetworkModule, TokenCacheContext } from '@azure/msal-node';
import { CacheCipher, EncryptedFileCachePlugin, bindingId } from '../../../src/auth/token-cache';
import { createTokenProvider } from '../../../src/auth/token-provider';
import { M365MailError } from '../../../src/core/errors';

const BINDING = { clientId: '80f86c41-6b24-46e2-8c07-64bad3a8632d', tenant: 'organizations', authorityHost: 'https://login.microsoftonline.com' };
const CACHE_JSON = JSON.stringify({ Account: {}, RefreshToken: { rt: { secret: 'refresh-token-value' } } });

/** Just enough of MSAL's TokenCacheContext for the plugin. */
function fakeContext(initial = '', changed = false): TokenCacheContext & { loaded?: string } {
  const ctx = {
    loaded: undefined as string | undefined,
    cacheHasChanged: changed,
    tokenCache: {
      serialize: () => initial,
      deserialize: (cache: string) => { ctx.loaded = cache; },
    },
  };
  return ctx as unknown as TokenCacheContext & { loaded?: string };
}

/** A network module that fails the test if MSAL ever calls it. */
const noNetwork: INetworkModule = {
  sendGetRequestAsync: () => Promise.reject(new Error('network used')),
  sendPostRequestAsync: () => Promise.reject(new Error('network used')),
};

describe('auth/token-cache', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(tmpdir(), 'm365-cache-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips the cache through AES-256-GCM without storing it in clear', async () => {
    const cipher = new CacheCipher('credential-secret', bindingId(BINDING));
    const blob = await cipher.encrypt(CACHE_JSON);
    assert.ok(!blob.includes('refresh-token-value'));
    assert.equal(await cipher.decrypt(blob), CACHE_JSON);
    assert.equal(await new CacheCipher('credential-secret', bindingId(BINDING)).decrypt(blob), CACHE_JSON);
  });

  it('refuses a wrong key with sign-in-required instead of crashing', async () => {
    const blob = await new CacheCipher('secret-a', bindingId(BINDING)).encrypt(CACHE_JSON);
    await assert.rejects(new CacheCipher('secret-b', bindingId(BINDING)).decrypt(blob), (err: unknown) => {
      assert.ok(err instanceof M365MailError);
      assert.equal(err.kind, 'sign-in-required');
      assert.match(err.message, /could not be decrypted/);
      return true;
    });
  });

  it('refuses a cache written for another client ID or tenant', async () => {
    const blob = await new CacheCipher('s', bindingId(BINDING)).encrypt(CACHE_JSON);
    const other = bindingId({ ...BINDING, tenant: 'contoso.com' });
    await assert.rejects(new CacheCipher('s', other).decrypt(blob), /another client ID, tenant or cloud/);
  });

  it('detects tampering', async () => {
    const cipher = new CacheCipher('s', bindingId(BINDING));
    const file = JSON.parse(await cipher.encrypt(CACHE_JSON)) as { data: string };
    const bytes = Buffer.from(file.data, 'base64');
    bytes[0] ^= 1;
    await assert.rejects(cipher.decrypt(JSON.stringify({ ...file, data: bytes.toString('base64') })), { kind: 'sign-in-required' });
  });

  it('writes the file only when MSAL changed the cache and reads it back in a new plugin', async () => {
    const filePath = path.join(dir, 'sub', 'account.cache');
    const writer = new EncryptedFileCachePlugin({ filePath, secret: 's', binding: BINDING });
    await writer.afterCacheAccess(fakeContext(CACHE_JSON, false));
    assert.throws(() => readFileSync(filePath), /ENOENT/);
    await writer.afterCacheAccess(fakeContext(CACHE_JSON, true));
    assert.ok(!readFileSync(filePath, 'utf8').includes('refresh-token-value'));

    const reader = new EncryptedFileCachePlugin({ filePath, secret: 's', binding: BINDING });
    const ctx = fakeContext();
    await reader.beforeCacheAccess(ctx);
    assert.equal(ctx.loaded, CACHE_JSON);
    assert.equal(reader.loadProblem, undefined);
  });

  it('keeps working when the file cannot be written, and reports that once', async () => {
    // A regular file where the folder should be: the write fails (ENOTDIR) even for root.
    writeFileSync(path.join(dir, 'not-a-folder'), '');
    const filePath = path.join(dir, 'not-a-folder', 'account.cache');
    const problems: M365MailError[] = [];
    const plugin = new EncryptedFileCachePlugin({ filePath, secret: 's', binding: BINDING, onProblem: (p) => problems.push(p) });
    await plugin.afterCacheAccess(fakeContext(CACHE_JSON, true));
    await plugin.beforeCacheAccess(fakeContext());
    await plugin.afterCacheAccess(fakeContext(`${CACHE_JSON} `, true));
    assert.equal(problems.length, 1, problems.map(String).join('\n'));
    assert.equal(problems[0]?.kind, 'storage');
    assert.match(problems[0]?.message ?? '', /could not be stored.*\((?:ENOTDIR|EEXIST)\)/);
    assert.ok(!String(problems[0]).includes('refresh-token-value'));
  });

  it('reports a file written with another secret as a load problem and loads nothing', async () => {
    const filePath = path.join(dir, 'account.cache');
    await new EncryptedFileCachePlugin({ filePath, secret: 'old', binding: BINDING }).afterCacheAccess(fakeContext(CACHE_JSON, true));
    const problems: M365MailError[] = [];
    const reader = new EncryptedFileCachePlugin({ filePath, secret: 'new', binding: BINDING, onProblem: (p) => problems.push(p) });
    const ctx = fakeContext();
    await reader.beforeCacheAccess(ctx);
    assert.equal(ctx.loaded, undefined);
    assert.equal(reader.loadProblem?.kind, 'sign-in-required');
    assert.equal(problems.length, 1);
    assert.ok(!problems[0].toString().includes('refresh-token-value'));
  });

  it('makes a delegated provider answer sign-in-required when its cache file has the wrong key', async () => {
    const cacheFile = path.join(dir, 'account.cache');
    await new EncryptedFileCachePlugin({ filePath: cacheFile, secret: 'old', binding: BINDING }).afterCacheAccess(fakeContext(CACHE_JSON, true));
    const provider = createTokenProvider(
      { cloud: 'global', tenant: BINDING.tenant, clientId: BINDING.clientId, authType: 'device-code' },
      { cacheFile, cacheSecret: 'new', networkClient: noNetwork },
    );
    assert.equal(await provider.getAccount(), undefined);
    await assert.rejects(provider.getAccessToken('imap'), (err: unknown) => {
      assert.ok(err instanceof M365MailError);
      assert.equal(err.kind, 'sign-in-required');
      assert.match(err.fix, /Sign in again/);
      return true;
    });
    provider.dispose();
  });

  it('makes a delegated provider without any sign-in answer sign-in-required without network', async () => {
    const provider = createTokenProvider(
      { tenant: 'organizations', clientId: BINDING.clientId, authType: 'auth-code' },
      { networkClient: noNetwork },
    );
    await assert.rejects(provider.getAccessToken('pop3'), { kind: 'sign-in-required' });
    provider.dispose();
  });

  it('ignores a damaged cache file', async () => {
    const filePath = path.join(dir, 'account.cache');
    writeFileSync(filePath, 'not json');
    const reader = new EncryptedFileCachePlugin({ filePath, secret: 's', binding: BINDING });
    await reader.beforeCacheAccess(fakeContext());
    assert.equal(reader.loadProblem?.kind, 'sign-in-required');
  });
});
